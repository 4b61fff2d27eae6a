"""Wire formats: translation between OpenAI, Anthropic and Gemini requests, answers and streams."""
