"""Provider classes by name, found through the `agentdeck.providers` entry-point group."""

from __future__ import annotations

from agentdeck.gateway.providers.base import Provider, ProviderContext
from agentdeck.plugins import load_plugin, plugin_names
from agentdeck.settings import DeploymentSettings

GROUP = "agentdeck.providers"
_BUILTIN = {
    "fake": "agentdeck.gateway.providers.fake:FakeProvider",
    "openai": "agentdeck.gateway.providers.openai:OpenAIProvider",
    "azure": "agentdeck.gateway.providers.azure:AzureOpenAIProvider",
    "anthropic": "agentdeck.gateway.providers.anthropic:AnthropicProvider",
    "gemini": "agentdeck.gateway.providers.gemini:GeminiProvider",
    "bedrock": "agentdeck.gateway.providers.bedrock:BedrockProvider",
}


def provider_names() -> list[str]:
    """Every provider name that can be used in a deployment."""
    return plugin_names(GROUP, _BUILTIN)


def create_provider(deployment: DeploymentSettings, context: ProviderContext) -> Provider:
    """An instance of the deployment's provider; unknown names are a configuration error."""
    factory = load_plugin(
        GROUP, _BUILTIN, deployment.provider, f"deployment {deployment.id!r}", "provider"
    )
    provider: Provider = factory(deployment, context)
    return provider
