"""The `gemini` provider: the Google Generative Language API (Gemini), from the OpenAI format.

`base_url` defaults to https://generativelanguage.googleapis.com/v1beta; the key goes in
`x-goog-api-key`.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from contextlib import aclosing

import orjson

from agentdeck.errors import UpstreamError
from agentdeck.gateway.formats.gemini import (
    GeminiStreamToOpenAI,
    request_to_gemini,
    response_to_openai,
)
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext
from agentdeck.gateway.providers.http_upstream import HTTPUpstream
from agentdeck.gateway.tokens import count_text
from agentdeck.settings import DeploymentSettings

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


class GeminiProvider:
    """Translates each call to generateContent / streamGenerateContent and the answer back."""

    times_whole_calls = True  # HTTPUpstream: a total timeout of timeout_s per call

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        self.deployment = deployment
        base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._model_url = f"{base}/models/{deployment.model}"
        self._http = HTTPUpstream(
            deployment, context, credential_header="x-goog-api-key", credential_prefix=""
        )

    async def chat(self, body: JSON) -> ChatReply:
        """POST :generateContent."""
        _, answer = await self._http.post_json(
            f"{self._model_url}:generateContent", request_to_gemini(body)
        )
        if not isinstance(answer, dict) or "candidates" not in answer:
            raise UpstreamError(f"upstream {self.deployment.id} answered without candidates")
        completion = response_to_openai(answer, self.deployment.model)
        usage = Usage.from_openai(completion["usage"]) or Usage(counted=True)
        return ChatReply(orjson.dumps(completion), usage, str(completion["model"]))

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """POST :streamGenerateContent?alt=sse, yielding OpenAI chunks."""
        translator = GeminiStreamToOpenAI(self.deployment.model)
        events = self._http.post_events(
            f"{self._model_url}:streamGenerateContent", request_to_gemini(body), {"alt": "sse"}
        )
        async with aclosing(events):  # releases the connection as soon as we stop
            async for _, answer in events:
                for chunk in translator.feed(answer):
                    yield StreamEvent(orjson.dumps(chunk), chunk)
        if not translator.finished:
            raise self._http.broken("ended the stream without a finish reason")
        usage = translator.usage_chunk()
        yield StreamEvent(orjson.dumps(usage), usage)

    async def embed(self, body: JSON) -> EmbeddingReply:
        """POST :batchEmbedContents; the answer in the OpenAI embeddings shape."""
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        texts = [item if isinstance(item, str) else orjson.dumps(item).decode() for item in inputs]
        request: JSON = {
            "requests": [
                {
                    "model": f"models/{self.deployment.model}",
                    "content": {"parts": [{"text": text}]},
                    **(
                        {"outputDimensionality": body["dimensions"]}
                        if body.get("dimensions")
                        else {}
                    ),
                }
                for text in texts
            ]
        }
        _, answer = await self._http.post_json(f"{self._model_url}:batchEmbedContents", request)
        embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(embeddings, list):
            raise UpstreamError(f"upstream {self.deployment.id} answered without embeddings")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(embeddings):
            values = item.get("values") or []
            vector = (
                base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
                if as_base64
                else values
            )
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_text(text) for text in texts)  # Gemini reports no usage here
        result = {
            "object": "list",
            "data": data,
            "model": self.deployment.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return EmbeddingReply(orjson.dumps(result), Usage(tokens, 0, counted=True))

    async def aclose(self) -> None:
        """Close the pooled session."""
        await self._http.aclose()
