"""`agentdeck fake-upstream`: the fake models served over HTTP in three wire formats.

OpenAI (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`, and Azure's
`/openai/deployments/{name}/...` paths), Anthropic (`/v1/messages`)
Bedrock Converse (`/model/{id}/converse`, `/converse-stream` in the AWS event-stream framing)
and Gemini (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
`:batchEmbedContents`). A raw ASGI app, so that as an upstream in tests and benchmarks it costs
as little as possible. Injected failures happen on the wire: an error status in the format's
own error shape, a connection that never answers, or one closed part-way through a body.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import Receive, Scope, Send

from agentdeck.gateway import fake_wire
from agentdeck.gateway.fake_engine import FakeEngine, FakeFailure, FakePlan
from agentdeck.settings import FakeModelSettings

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_EVENT_STREAM = [(b"content-type", b"application/vnd.amazon.eventstream")]
_GEMINI_PATH = re.compile(
    r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$"
)
_BEDROCK_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream)$")
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class UpstreamResetError(Exception):
    """Raised mid-response on purpose: the server then drops the connection (a 'reset')."""


@dataclass(frozen=True, slots=True)
class _Call:
    """What a request asks for: its wire format, the action, and the model if in the path."""

    wire: str  # openai | anthropic | gemini | bedrock
    action: str  # chat | embed
    model: str | None = None


def _route(method: str, path: str) -> _Call | None:
    if method != "POST":
        return None
    if path == "/v1/chat/completions":
        return _Call("openai", "chat")
    if path == "/v1/embeddings":
        return _Call("openai", "embed")
    if path == "/v1/messages":
        return _Call("anthropic", "chat")
    bedrock = _BEDROCK_PATH.match(path)
    if bedrock:
        return _Call("bedrock", "chat", unquote(bedrock.group(1)))
    azure = _AZURE_PATH.match(path)
    if azure:
        return _Call(
            "openai", "embed" if azure.group(2) == "embeddings" else "chat", azure.group(1)
        )
    found = _GEMINI_PATH.match(path)
    if found:
        action = "embed" if found.group(2) == "batchEmbedContents" else "chat"
        return _Call("gemini", action, found.group(1))
    return None


def error_body(wire: str, status: int, message: str) -> dict[str, Any]:
    """An error body in the shape `wire`'s clients expect."""
    if wire == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if wire == "bedrock":
        return {"message": message}
    if wire == "gemini":
        return {
            "error": {
                "code": status,
                "message": message,
                "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
            }
        }
    return FakeFailure(status, message, None).body()


class FakeUpstreamApp:
    """The fake models behind OpenAI-, Anthropic- and Gemini-format routes."""

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
        call = _route(method, path)
        if call is None:
            await _send_json(send, 404, error_body("openai", 404, f"no route {method} {path}"))
            return
        try:
            body = orjson.loads(await _read_body(receive))
        except orjson.JSONDecodeError as exc:
            await _send_json(send, 400, error_body(call.wire, 400, f"body is not JSON: {exc}"))
            return
        if not isinstance(body, dict):
            await _send_json(send, 400, error_body(call.wire, 400, "body is not an object"))
            return
        await self._serve(call, body, scope, receive, send)

    async def _serve(
        self, call: _Call, body: dict[str, Any], scope: Scope, receive: Receive, send: Send
    ) -> None:
        model = call.model or body.get("model")
        spec = self.engine.spec(model) if isinstance(model, str) else None
        if spec is None or not isinstance(model, str):
            await _send_json(
                send, 404, error_body(call.wire, 404, f"model {model!r} does not exist")
            )
            return
        plan = self.engine.plan(model, spec, _as_openai(call.wire, body))
        if not await _before_answer(call.wire, plan, receive, send):
            return
        if call.action == "embed":
            await _send_json(send, 200, self._embeddings(call.wire, model, spec, body))
            return
        streaming = body.get("stream") is True or scope["path"].endswith(
            (":streamGenerateContent", "/converse-stream")
        )
        if streaming:
            headers = _EVENT_STREAM if call.wire == "bedrock" else _SSE
            await _send_events(send, plan, self._events(call.wire, model, plan, body), headers)
        else:
            await _send_whole(send, plan, self._whole(call.wire, model, plan))

    def _embeddings(self, wire: str, model: str, spec: FakeModelSettings, body: Any) -> Any:
        if wire == "gemini":
            inputs = [
                "".join(p.get("text", "") for p in (r.get("content") or {}).get("parts", ()))
                for r in body.get("requests") or ()
            ]
            dims = next(
                (
                    r.get("outputDimensionality")
                    for r in body.get("requests") or ()
                    if r.get("outputDimensionality")
                ),
                None,
            )
            answer = self.engine.embeddings(model, spec, {"input": inputs, "dimensions": dims})
            return {"embeddings": [{"values": item["embedding"]} for item in answer["data"]]}
        return self.engine.embeddings(model, spec, body)

    def _whole(self, wire: str, model: str, plan: FakePlan) -> Any:
        if wire == "bedrock":
            return fake_wire.bedrock_response(plan)
        if wire == "anthropic":
            return fake_wire.anthropic_message(model, plan)
        if wire == "gemini":
            return fake_wire.gemini_response(model, plan)
        return self.engine.completion(model, plan)

    def _events(self, wire: str, model: str, plan: FakePlan, body: Any) -> list[bytes]:
        if wire == "bedrock":
            return [
                fake_wire.event_stream_frame(kind, data)
                for kind, data in fake_wire.bedrock_events(plan)
            ]
        if wire == "anthropic":
            return [
                b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
                for name, data in fake_wire.anthropic_events(model, plan)
            ]
        if wire == "gemini":
            return [
                b"data: " + orjson.dumps(c) + b"\r\n\r\n"
                for c in fake_wire.gemini_chunks(model, plan)
            ]
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = self.engine.chunks(model, plan, include_usage)
        return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _as_openai(wire: str, body: dict[str, Any]) -> dict[str, Any]:
    """The request in the shape the fake engine plans from (messages with roles)."""
    if wire == "anthropic":
        return {"messages": fake_wire.anthropic_messages_as_openai(body)}
    if wire == "gemini":
        return {"messages": fake_wire.gemini_contents_as_openai(body)}
    if wire == "bedrock":
        return {"messages": fake_wire.bedrock_messages_as_openai(body)}
    return body


async def _send_whole(send: Send, plan: FakePlan, answer: Any) -> None:
    payload = orjson.dumps(answer)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_JSON, (b"content-length", str(len(payload)).encode())],
        }
    )
    if plan.spec.reset_after_chunks is not None:
        # Promise the whole body, send half, then drop the connection.
        await send(
            {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
        )
        raise UpstreamResetError("fake upstream reset the connection mid-body")
    await send({"type": "http.response.body", "body": payload})


async def _send_events(
    send: Send, plan: FakePlan, events: list[bytes], headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    delay = plan.spec.chunk_delay_ms / 1000
    reset_at = plan.spec.reset_after_chunks
    for index, event in enumerate(events):
        if reset_at is not None and index >= reset_at:
            raise UpstreamResetError(f"fake upstream reset the stream after {index} events")
        if delay and index:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _before_answer(wire: str, plan: FakePlan, receive: Receive, send: Send) -> bool:
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
        body = error_body(wire, plan.failure.status, plan.failure.message)
        await _send_json(send, plan.failure.status, body, headers)
        return False
    return True


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
