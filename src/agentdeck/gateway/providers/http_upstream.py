"""One pooled aiohttp session to one upstream, with every failure mapped to an UpstreamError.

Shared by the HTTP providers (openai, azure, anthropic, gemini): they differ in URLs, headers
and body shapes, not in how connections, timeouts, error statuses and SSE are handled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from agentdeck.errors import (
    ConfigurationError,
    UpstreamError,
    UpstreamStreamBrokenError,
    UpstreamTimeoutError,
)
from agentdeck.gateway.providers.base import ProviderContext, status_error
from agentdeck.settings import DeploymentSettings, read_credential

_MAX_LINE_BYTES = 4 * 1024 * 1024
_MAX_ERROR_BODY = 64 * 1024
# What a broken or malformed HTTP exchange raises: aiohttp's client errors, and its parser's
# errors (a line over the limit), which are not ClientErrors.
_BROKEN = (aiohttp.ClientError, HttpProcessingError, ValueError)


class HTTPUpstream:
    """POSTs JSON to one deployment's upstream and reads JSON or server-sent events back."""

    def __init__(
        self,
        deployment: DeploymentSettings,
        context: ProviderContext,
        *,
        credential_header: str | None = "authorization",
        credential_prefix: str = "Bearer ",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.deployment = deployment
        self._connections = context.gateway.upstream_connections
        self._session: aiohttp.ClientSession | None = None
        self._headers = {
            "content-type": "application/json",
            **(headers or {}),
            **deployment.headers,
        }
        self._missing_credential: str | None = None
        self._whole_timeout = aiohttp.ClientTimeout(
            total=deployment.timeout_s, sock_connect=deployment.connect_timeout_s
        )
        # A stream may run long; what must not happen is a long silence.
        self._stream_timeout = aiohttp.ClientTimeout(
            sock_connect=deployment.connect_timeout_s, sock_read=deployment.timeout_s
        )
        self._stored: tuple[str, str, Callable[[str], str | None]] | None = None
        if deployment.credential and credential_header and context.credential is not None:
            # Looked up per call, so a rotated credential is used from the next call on.
            self._stored = (credential_header, credential_prefix, context.credential)
        if deployment.api_key_env and credential_header:
            key = read_credential(deployment.api_key_env)
            if key is None:
                self._missing_credential = deployment.api_key_env
            else:
                self._headers[credential_header] = credential_prefix + key

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
                connector=connector, headers=self._headers, read_bufsize=_MAX_LINE_BYTES
            )
        return self._session

    def _timed_out(self, what: str = "did not answer") -> UpstreamTimeoutError:
        return UpstreamTimeoutError(
            f"upstream {self.deployment.id} {what} within {self.deployment.timeout_s}s"
        )

    async def post(
        self,
        url: str,
        body: Any,
        *,
        streaming: bool,
        params: Mapping[str, str] | None = None,
        sign: Callable[[str, bytes], Mapping[str, str]] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST `body` as JSON; a response with an error status is raised as an UpstreamError.

        `sign(url, data)` gives headers computed over the exact bytes (request signing).
        """
        data = orjson.dumps(body)
        headers = dict(sign(url, data)) if sign is not None else {}
        if self._stored is not None:
            name, prefix, lookup = self._stored
            value = lookup(self.deployment.credential or "")
            if value is None:
                raise ConfigurationError(
                    f"deployment {self.deployment.id}: credential "
                    f"{self.deployment.credential!r} is not stored in the platform tenant"
                )
            headers[name] = prefix + value
        try:
            response = await self._client().post(
                URL(url, encoded=True),
                data=data,
                params=params,
                headers=headers or None,
                timeout=self._stream_timeout if streaming else self._whole_timeout,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timed_out() from exc
        except _BROKEN as exc:
            raise UpstreamError(
                f"upstream {self.deployment.id} could not be reached: {describe(exc)}"
            ) from exc
        if response.status >= 400:
            await self._raise_for_status(response)
        return response

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        try:
            raw = await response.content.read(_MAX_ERROR_BODY)
        except (*_BROKEN, TimeoutError):
            raw = b""
        finally:
            response.release()
        message = error_message(raw) or response.reason or "no error message"
        raise status_error(
            self.deployment, response.status, message, response.headers.get("retry-after")
        )

    async def post_json(
        self,
        url: str,
        body: Any,
        params: Mapping[str, str] | None = None,
        sign: Callable[[str, bytes], Mapping[str, str]] | None = None,
    ) -> tuple[bytes, Any]:
        """POST and read the whole JSON answer: (raw bytes, parsed)."""
        response = await self.post(url, body, streaming=False, params=params, sign=sign)
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timed_out() from exc
        except _BROKEN as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} broke off its answer: {describe(exc)}"
            ) from exc
        finally:
            response.release()
        try:
            return raw, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"upstream {self.deployment.id} answered with a body that is not JSON"
            ) from exc

    async def post_events(
        self, url: str, body: Any, params: Mapping[str, str] | None = None
    ) -> AsyncGenerator[tuple[bytes, Any], None]:
        """POST and yield each server-sent event's (data, parsed JSON) until the body ends.

        `[DONE]` is yielded as (b"[DONE]", None). An error object inside the stream, a
        silence longer than the timeout, or a broken connection raise an UpstreamError.
        """
        response = await self.post(url, body, streaming=True, params=params)
        try:
            async for data in sse_data(response):
                if data == b"[DONE]":
                    yield data, None
                    continue
                try:
                    parsed = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamStreamBrokenError(
                        f"upstream {self.deployment.id} sent a stream event that is not JSON"
                    ) from exc
                if not isinstance(parsed, dict):
                    raise UpstreamStreamBrokenError(
                        f"upstream {self.deployment.id} sent a stream event that is not an object"
                    )
                if "error" in parsed and "choices" not in parsed:
                    raise UpstreamStreamBrokenError(
                        f"upstream {self.deployment.id} failed mid-stream: "
                        f"{error_message(data) or 'error event in stream'}"
                    )
                yield data, parsed
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timed_out("went silent mid-stream: no event") from exc
        except _BROKEN as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} broke off the stream: {describe(exc)}"
            ) from exc
        finally:
            response.release()

    def broken(self, why: str) -> UpstreamStreamBrokenError:
        """The error for a stream that ended before it was complete."""
        return UpstreamStreamBrokenError(f"upstream {self.deployment.id} {why}")

    async def aclose(self) -> None:
        """Close the pooled session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
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
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
        # other fields (event:, id:, retry:) and comments: every format here repeats the
        # event type inside its JSON, so nothing is lost by skipping them
    if lines:
        yield b"\n".join(lines)


def error_message(raw: bytes) -> str | None:
    """The message of an error body in the OpenAI, Anthropic or Google shape, or its text."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return text[:300] or None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # Google wraps some errors in a one-element list
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return None


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` for error texts."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
