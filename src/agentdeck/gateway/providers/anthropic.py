"""The `anthropic` provider: the Anthropic Messages API, spoken from the gateway's OpenAI format.

`base_url` defaults to https://api.anthropic.com; the key goes in `x-api-key`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import orjson

from agentdeck.errors import UpstreamError
from agentdeck.gateway.formats.anthropic_out import (
    AnthropicStreamToOpenAI,
    request_to_anthropic,
    response_to_openai,
)
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext, status_error
from agentdeck.gateway.providers.http_upstream import HTTPUpstream
from agentdeck.settings import DeploymentSettings

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider:
    """Translates each call to an Anthropic Messages request and the answer back."""

    times_whole_calls = True  # HTTPUpstream: a total timeout of timeout_s per call

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        self.deployment = deployment
        base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._http = HTTPUpstream(
            deployment,
            context,
            credential_header="x-api-key",
            credential_prefix="",
            headers={"anthropic-version": API_VERSION},
        )

    async def chat(self, body: JSON) -> ChatReply:
        """POST /v1/messages and translate the message to a chat.completion."""
        request = request_to_anthropic(body, self.deployment.model)
        _, answer = await self._http.post_json(self._url, request)
        if not isinstance(answer, dict) or answer.get("type") != "message":
            raise UpstreamError(f"upstream {self.deployment.id} answered without a message")
        completion = response_to_openai(answer)
        usage = Usage.from_openai(completion["usage"]) or Usage(counted=True)
        return ChatReply(orjson.dumps(completion), usage, str(completion["model"]))

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """Stream /v1/messages, yielding OpenAI chunks as Anthropic events arrive."""
        request = request_to_anthropic(body, self.deployment.model)
        translator = AnthropicStreamToOpenAI()
        events = self._http.post_events(self._url, request)
        async with aclosing(events):  # releases the connection as soon as we stop
            async for _, event in events:
                for chunk in translator.feed(event):
                    yield StreamEvent(orjson.dumps(chunk), chunk)
                if event.get("type") == "message_stop":
                    return
        raise self._http.broken("ended the stream before message_stop")

    async def embed(self, body: JSON) -> EmbeddingReply:
        """Anthropic has no embeddings endpoint."""
        raise status_error(self.deployment, 400, "the anthropic provider has no embeddings")

    async def aclose(self) -> None:
        """Close the pooled session."""
        await self._http.aclose()
