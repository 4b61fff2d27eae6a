"""Provider classes by name, found through the `agentdeck.providers` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from agentdeck.errors import ConfigurationError
from agentdeck.gateway.providers.base import Provider, ProviderContext
from agentdeck.settings import DeploymentSettings

_BUILTIN = {
    "fake": "agentdeck.gateway.providers.fake:FakeProvider",
    "openai": "agentdeck.gateway.providers.openai:OpenAIProvider",
    "azure": "agentdeck.gateway.providers.azure:AzureOpenAIProvider",
    "anthropic": "agentdeck.gateway.providers.anthropic:AnthropicProvider",
    "gemini": "agentdeck.gateway.providers.gemini:GeminiProvider",
    "bedrock": "agentdeck.gateway.providers.bedrock:BedrockProvider",
}


@cache
def _classes() -> dict[str, str]:
    found = dict(_BUILTIN)
    for entry in entry_points(group="agentdeck.providers"):
        found[entry.name] = entry.value
    return found


def provider_names() -> list[str]:
    """Every provider name that can be used in a deployment."""
    return sorted(_classes())


def _load(target: str) -> Any:
    from importlib import import_module

    module_name, _, attr = target.partition(":")
    return getattr(import_module(module_name), attr)


def create_provider(deployment: DeploymentSettings, context: ProviderContext) -> Provider:
    """An instance of the deployment's provider; unknown names are a configuration error."""
    target = _classes().get(deployment.provider)
    if target is None:
        raise ConfigurationError(
            f"deployment {deployment.id!r}: unknown provider {deployment.provider!r}; "
            f"known: {', '.join(provider_names())}"
        )
    provider: Provider = _load(target)(deployment, context)
    return provider
