"""The AI gateway: wire formats, providers, routing, pricing and the request pipeline."""
