"""Providers: the small interface every upstream implements, and its registry."""

from __future__ import annotations

from agentdeck.gateway.providers.base import Provider, ProviderContext
from agentdeck.gateway.providers.registry import create_provider, provider_names

__all__ = ["Provider", "ProviderContext", "create_provider", "provider_names"]
