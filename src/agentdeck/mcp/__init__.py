"""The MCP gateway: sessions with upstream MCP servers, virtual servers made of their tools and
of the tool registry, and the `/mcp/{name}` endpoint that serves them."""
