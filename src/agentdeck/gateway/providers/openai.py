"""The `openai` provider: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, Together, Groq...).

One pooled aiohttp session per deployment; bodies go out and come back as bytes, parsed only
as far as usage and errors need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from agentdeck.errors import (
    ConfigurationError,
    UpstreamError,
    UpstreamStreamBrokenError,
    UpstreamTimeoutError,
)
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext, status_error
from agentdeck.settings import DeploymentSettings, read_credential

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_CONNECT_TIMEOUT_S = 10.0
_MAX_LINE_BYTES = 4 * 1024 * 1024


class OpenAIProvider:
    """Speaks the OpenAI Chat Completions and Embeddings wire format to one base URL."""

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        self.deployment = deployment
        base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._chat_url = f"{base}/chat/completions"
        self._embed_url = f"{base}/embeddings"
        self._connections = context.gateway.upstream_connections
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"content-type": "application/json", **deployment.headers}
        self._missing_credential: str | None = None
        if deployment.api_key_env:
            key = read_credential(deployment.api_key_env)
            if key is None:
                self._missing_credential = deployment.api_key_env
            else:
                self._headers["authorization"] = f"Bearer {key}"

    def _client(self) -> aiohttp.ClientSession:
        if self._missing_credential is not None:
            raise ConfigurationError(
                f"deployment {self.deployment.id}: environment variable "
                f"{self._missing_credential} is not set"
            )
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connections, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                read_bufsize=_MAX_LINE_BYTES,
                auto_decompress=True,
            )
        return self._session

    def _timeout(self, streaming: bool) -> aiohttp.ClientTimeout:
        if streaming:
            # A stream may run long; what must not happen is a long silence.
            return aiohttp.ClientTimeout(
                sock_connect=_CONNECT_TIMEOUT_S, sock_read=self.deployment.timeout_s
            )
        return aiohttp.ClientTimeout(
            total=self.deployment.timeout_s, sock_connect=_CONNECT_TIMEOUT_S
        )

    async def _post(self, url: str, body: JSON, streaming: bool) -> aiohttp.ClientResponse:
        try:
            response = await self._client().post(
                url, data=orjson.dumps(body), timeout=self._timeout(streaming)
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timed_out() from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"upstream {self.deployment.id} could not be reached: {_describe(exc)}"
            ) from exc
        if response.status >= 400:
            await self._raise_for_status(response)
        return response

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        finally:
            response.release()
        message = _error_message(raw) or response.reason or "no error message"
        raise status_error(
            self.deployment, response.status, message, response.headers.get("retry-after")
        )

    def _timed_out(self) -> UpstreamTimeoutError:
        return UpstreamTimeoutError(
            f"upstream {self.deployment.id} did not answer within {self.deployment.timeout_s}s"
        )

    async def _read_json(self, url: str, body: JSON) -> tuple[bytes, Any]:
        response = await self._post(url, body, streaming=False)
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timed_out() from exc
        except aiohttp.ClientError as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} broke off its answer: {_describe(exc)}"
            ) from exc
        finally:
            response.release()
        try:
            return raw, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"upstream {self.deployment.id} answered with a body that is not JSON"
            ) from exc

    async def chat(self, body: JSON) -> ChatReply:
        """POST /chat/completions and return the answer as the upstream sent it."""
        raw, parsed = await self._read_json(self._chat_url, body)
        if not isinstance(parsed, dict) or "choices" not in parsed:
            raise UpstreamError(f"upstream {self.deployment.id} answered without choices")
        usage = Usage.from_openai(parsed.get("usage")) or Usage(counted=True)
        return ChatReply(raw, usage, str(parsed.get("model") or self.deployment.model))

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """POST a streaming request; yield each `data:` event as it arrives."""
        response = await self._post(self._chat_url, body, streaming=True)
        try:
            async for data in _sse_data(response):
                if data == b"[DONE]":
                    return
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamStreamBrokenError(
                        f"upstream {self.deployment.id} sent a stream event that is not JSON"
                    ) from exc
                if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                    message = _error_message(data) or "error event in stream"
                    raise UpstreamStreamBrokenError(
                        f"upstream {self.deployment.id} failed mid-stream: {message}"
                    )
                yield StreamEvent(data, chunk)
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} ended the stream without [DONE]"
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeoutError(
                f"upstream {self.deployment.id} went silent mid-stream for "
                f"{self.deployment.timeout_s}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} broke off the stream: {_describe(exc)}"
            ) from exc
        finally:
            response.release()

    async def embed(self, body: JSON) -> EmbeddingReply:
        """POST /embeddings."""
        raw, parsed = await self._read_json(self._embed_url, body)
        if not isinstance(parsed, dict) or "data" not in parsed:
            raise UpstreamError(f"upstream {self.deployment.id} answered without data")
        usage = Usage.from_openai(parsed.get("usage")) or Usage(counted=True)
        return EmbeddingReply(raw, usage)

    async def aclose(self) -> None:
        """Close the pooled session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The data of each server-sent event, multi-line data joined with newlines."""
    lines: list[bytes] = []
    async for raw_line in response.content:
        line = raw_line.rstrip(b"\r\n")
        if not line:
            if lines:
                yield b"\n".join(lines)
                lines = []
            continue
        if line.startswith(b"data:"):
            lines.append(line[5:].lstrip(b" "))
        # other fields (event:, id:, retry:) and comments carry nothing chat needs
    if lines:
        yield b"\n".join(lines)


def _error_message(raw: bytes) -> str | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return text[:300] or None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
