"""The `azure` provider: Azure OpenAI, addressed by deployment name and api-version.

`base_url` is the resource endpoint (https://NAME.openai.azure.com); `model` is the Azure
deployment name; the key goes in the `api-key` header.
"""

from __future__ import annotations

from agentdeck.errors import ConfigurationError
from agentdeck.gateway.providers.base import ProviderContext
from agentdeck.gateway.providers.http_upstream import HTTPUpstream
from agentdeck.gateway.providers.openai import OpenAIProvider
from agentdeck.settings import DeploymentSettings

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAIProvider):
    """OpenAI wire format at Azure's deployment paths."""

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        if not deployment.base_url:
            raise ConfigurationError(
                f"deployment {deployment.id}: azure needs base_url, the resource endpoint"
            )
        super().__init__(deployment, context)
        base = f"{deployment.base_url.rstrip('/')}/openai/deployments/{deployment.model}"
        self._chat_url = f"{base}/chat/completions"
        self._embed_url = f"{base}/embeddings"
        self._params = {"api-version": deployment.api_version or DEFAULT_API_VERSION}

    def _upstream(self, deployment: DeploymentSettings, context: ProviderContext) -> HTTPUpstream:
        return HTTPUpstream(deployment, context, credential_header="api-key", credential_prefix="")
