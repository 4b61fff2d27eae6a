"""The `Provider` protocol: one upstream deployment, spoken to in OpenAI format."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentdeck.errors import UpstreamStatusError
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent
from agentdeck.settings import DeploymentSettings, FakeModelSettings, GatewaySettings


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need beyond its own deployment settings."""

    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    fake_models: dict[str, FakeModelSettings] = field(default_factory=dict)
    # A stored credential's current value by name (the platform tenant's), None if not stored.
    credential: Callable[[str], str | None] | None = None


@runtime_checkable
class Provider(Protocol):
    """One upstream deployment. `body` is an OpenAI-format request with the upstream model set.

    Failures raise `agentdeck.errors.UpstreamError` subclasses; nothing else escapes.
    Third-party providers register a class `(deployment, context) -> Provider` under the
    `agentdeck.providers` entry-point group.
    """

    deployment: DeploymentSettings

    async def chat(self, body: JSON) -> ChatReply:
        """A complete chat completion."""
        ...

    def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """A chat completion as stream events, yielded as they arrive."""
        ...

    async def embed(self, body: JSON) -> EmbeddingReply:
        """Embeddings for the request's input."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def status_error(
    deployment: DeploymentSettings, status: int, message: str, retry_after: str | None = None
) -> UpstreamStatusError:
    """The error for an upstream that answered `status`, naming the deployment."""
    return UpstreamStatusError(
        f"upstream {deployment.id} answered {status}: {message}",
        upstream_status=status,
        retry_after=retry_after,
        code=_STATUS_CODES.get(status, "upstream_error"),
        headers={"retry-after": retry_after} if retry_after else None,
    )


_STATUS_CODES = {
    400: "upstream_bad_request",
    401: "upstream_auth_failed",
    403: "upstream_auth_failed",
    404: "upstream_model_not_found",
    413: "upstream_request_too_large",
    422: "upstream_bad_request",
    429: "upstream_rate_limited",
}
