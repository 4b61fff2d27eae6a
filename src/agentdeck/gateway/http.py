"""HTTP plumbing of the gateway routes, in raw ASGI: the hot path skips Starlette's request,
router and response objects (see docs/decisions/0003-raw-asgi-hot-path.md)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from functools import partial

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from agentdeck.errors import (
    AgentdeckError,
    ClientClosedError,
    InvalidRequestError,
    PayloadTooLargeError,
    http_status,
)

Headers = list[tuple[bytes, bytes]]
JSON_TYPE = (b"content-type", b"application/json")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header `name` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequestError("content-length header is not a number", param="body")
        if int(declared) > limit:
            raise PayloadTooLargeError(
                f"request body is {int(declared)} bytes; the limit is {limit} bytes", param="body"
            )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosedError("the client closed the connection while sending")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"request body is over the limit of {limit} bytes", param="body"
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    """A complete response whose body is already-serialized JSON."""
    raw: Headers = [JSON_TYPE, (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend((k.encode(), v.encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    error: AgentdeckError,
    render: Callable[[AgentdeckError], bytes] | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    """`error` in the OpenAI shape (or as `render` draws it), with its status and headers."""
    body = render(error) if render is not None else error.to_json()
    headers = {**error.headers, **extra} if extra else error.headers
    await send_json(send, http_status(error), body, headers or None)


class RawRoute:
    """A raw ASGI handler that Starlette's router mounts as an app (so it gives 405s), and that
    the front door calls directly for the hot path."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler."""
        await self.handler(scope, receive, send)


class EventStreamResponse:
    """A server-sent event stream sent chunk by chunk.

    When the client disconnects the body iterator is cancelled, and it is always closed in a
    shielded scope so that its accounting (the cost of what was streamed) runs exactly once.
    """

    def __init__(self, body: AsyncIterable[bytes], headers: dict[str, str]) -> None:
        self._body = body
        self._headers: Headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the body ends or the client goes away."""
        iterator = aiter(self._body)
        async with anyio.create_task_group() as group:

            async def until_done(job: Callable[[], Awaitable[None]]) -> None:
                await job()
                group.cancel_scope.cancel()

            group.start_soon(until_done, partial(self._send_all, iterator, send))
            await until_done(partial(_wait_for_disconnect, receive))

    async def _send_all(self, iterator: AsyncIterator[bytes], send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            async for chunk in iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # Shielded: the accounting must run even when the client is gone or we are
            # being cancelled. The body's own aclose covers a stream never started.
            with anyio.CancelScope(shield=True):
                for closable in (iterator, self._body):
                    aclose = getattr(closable, "aclose", None)
                    if aclose is not None:
                        await aclose()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


__all__ = ["ASGIApp", "EventStreamResponse", "RawRoute", "read_body", "send_error", "send_json"]
