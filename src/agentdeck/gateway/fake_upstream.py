"""`agentdeck fake-upstream`: the fake models served as an OpenAI-compatible HTTP server.

A raw ASGI app, so that as an upstream in tests and benchmarks it costs as little as possible.
Injected failures happen on the wire: an error status, a connection that never answers, or a
connection closed part-way through a body.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from agentdeck.gateway.fake_engine import FakeEngine, FakePlan
from agentdeck.settings import FakeModelSettings

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class UpstreamResetError(Exception):
    """Raised mid-response on purpose: the server then drops the connection (a 'reset')."""


class FakeUpstreamApp:
    """OpenAI-format `/v1/chat/completions`, `/v1/embeddings` and `/v1/models` over fake models."""

    def __init__(self, models: dict[str, FakeModelSettings]) -> None:
        self.engine = FakeEngine(models)
        self.requests_served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.requests_served += 1
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.engine.model_names()
            ]
            await _send_json(send, 200, {"object": "list", "data": data})
            return
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/embeddings"):
            await _send_json(send, 404, _error(f"no route {method} {path}", "not_found"))
            return
        try:
            body = orjson.loads(await _read_body(receive))
        except orjson.JSONDecodeError as exc:
            await _send_json(send, 400, _error(f"body is not JSON: {exc}", "invalid_json"))
            return
        model = body.get("model") if isinstance(body, dict) else None
        spec = self.engine.spec(model) if isinstance(model, str) else None
        if spec is None or not isinstance(model, str):
            await _send_json(
                send, 404, _error(f"model {model!r} does not exist", "model_not_found")
            )
            return
        plan = self.engine.plan(model, spec, body)
        if not await _before_answer(plan, receive, send):
            return
        if path == "/v1/embeddings":
            await _send_json(send, 200, self.engine.embeddings(model, spec, body))
        elif body.get("stream") is True:
            await self._stream(model, plan, body, send)
        else:
            await self._complete(model, plan, send)

    async def _complete(self, model: str, plan: FakePlan, send: Send) -> None:
        payload = orjson.dumps(self.engine.completion(model, plan))
        if plan.spec.reset_after_chunks is not None:
            # Promise the whole body, send half, then drop the connection.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*_JSON, (b"content-length", str(len(payload)).encode())],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[: len(payload) // 2],
                    "more_body": True,
                }
            )
            raise UpstreamResetError("fake upstream reset the connection mid-body")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _stream(self, model: str, plan: FakePlan, body: dict[str, Any], send: Send) -> None:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = self.engine.chunks(model, plan, include_usage)
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        delay = plan.spec.chunk_delay_ms / 1000
        reset_at = plan.spec.reset_after_chunks
        for index, chunk in enumerate(chunks):
            if reset_at is not None and index >= reset_at:
                raise UpstreamResetError(f"fake upstream reset the stream after {index} chunks")
            if delay and index:
                await asyncio.sleep(delay)
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + orjson.dumps(chunk) + b"\n\n",
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _before_answer(plan: FakePlan, receive: Receive, send: Send) -> bool:
    """Apply latency and injected failures; False when the request has been answered already."""
    if plan.spec.latency_ms:
        await asyncio.sleep(plan.spec.latency_ms / 1000)
    if plan.spec.timeout:
        # Never answer: hold the connection until the client gives up.
        while (await receive())["type"] != "http.disconnect":
            pass
        return False
    if plan.failure is not None:
        headers = []
        if plan.failure.retry_after_s is not None:
            headers.append((b"retry-after", str(plan.failure.retry_after_s).encode()))
        await _send_json(send, plan.failure.status, plan.failure.body(), headers)
        return False
    return True


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _send_json(
    send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(obj)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, *(headers or ()), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
