"""HTTP plumbing shared by the gateway routes: bounded body reads and byte responses."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from functools import partial

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agentdeck.errors import ClientClosedError, InvalidRequestError, PayloadTooLargeError

JSON_TYPE = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidRequestError("content-length header is not a number", param="body")
        if int(declared) > limit:
            raise PayloadTooLargeError(
                f"request body is {declared} bytes; the limit is {limit} bytes", param="body"
            )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"request body is over the limit of {limit} bytes", param="body"
                )
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientClosedError("the client closed the connection while sending") from exc
    return b"".join(chunks)


def json_bytes(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response whose body is already-serialized JSON."""
    return Response(content=body, status_code=status, headers=headers, media_type=JSON_TYPE)


class EventStreamResponse(Response):
    """A server-sent event stream sent chunk by chunk.

    When the client disconnects the body iterator is cancelled, and it is always closed in a
    shielded scope so that its accounting (the cost of what was streamed) runs exactly once.
    """

    def __init__(self, body: AsyncIterable[bytes], headers: dict[str, str]) -> None:
        self._body = body
        self.status_code = 200
        self.background = None
        self.init_headers(
            {
                **headers,
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
            }
        )

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
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
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
