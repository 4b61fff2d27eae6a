"""The `openai` provider: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, Together, Groq...).

Bodies go out and come back as bytes, parsed only as far as usage and errors need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from agentdeck.errors import UpstreamError
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext
from agentdeck.gateway.providers.http_upstream import HTTPUpstream
from agentdeck.settings import DeploymentSettings

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    """Speaks the OpenAI Chat Completions and Embeddings wire format to one base URL."""

    times_whole_calls = True  # HTTPUpstream: a total timeout of timeout_s per call

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        self.deployment = deployment
        base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._chat_url = f"{base}/chat/completions"
        self._embed_url = f"{base}/embeddings"
        self._params: dict[str, str] | None = None
        self._http = self._upstream(deployment, context)

    def _upstream(self, deployment: DeploymentSettings, context: ProviderContext) -> HTTPUpstream:
        return HTTPUpstream(deployment, context)

    async def chat(self, body: JSON) -> ChatReply:
        """POST /chat/completions and return the answer as the upstream sent it."""
        raw, parsed = await self._http.post_json(self._chat_url, body, self._params)
        return whole_answer(self.deployment, raw, parsed)

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """POST a streaming request; yield each `data:` event as it arrives."""
        events = self._http.post_events(self._chat_url, body, self._params)
        async with aclosing(events):  # releases the connection as soon as we stop
            async for data, chunk in events:
                if chunk is None:
                    return  # [DONE]
                yield StreamEvent(data, chunk)
        raise self._http.broken("ended the stream without [DONE]")

    async def embed(self, body: JSON) -> EmbeddingReply:
        """POST /embeddings."""
        raw, parsed = await self._http.post_json(self._embed_url, body, self._params)
        if not isinstance(parsed, dict) or "data" not in parsed:
            raise UpstreamError(f"upstream {self.deployment.id} answered without data")
        usage = Usage.from_openai(parsed.get("usage")) or Usage(counted=True)
        return EmbeddingReply(raw, usage)

    async def aclose(self) -> None:
        """Close the pooled session."""
        await self._http.aclose()


def whole_answer(deployment: DeploymentSettings, raw: bytes, parsed: Any) -> ChatReply:
    """A chat.completion from an OpenAI-format upstream, checked for choices."""
    if not isinstance(parsed, dict) or "choices" not in parsed:
        raise UpstreamError(f"upstream {deployment.id} answered without choices")
    usage = Usage.from_openai(parsed.get("usage")) or Usage(counted=True)
    return ChatReply(raw, usage, str(parsed.get("model") or deployment.model))
