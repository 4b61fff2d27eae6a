"""An upstream that answers garbage: the client always gets a 502 or an error event, never a
500 or a silently cut stream, and the gateway stays up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import free_port

MSG = [{"role": "user", "content": "hi"}]
GOOD = {"choices": [{"index": 0, "delta": {"content": "ok"}}]}

STREAMS: dict[str, bytes] = {
    "array-event": b"data: " + orjson.dumps(GOOD) + b"\n\ndata: [1, 2]\n\n",
    "choices-number": b"data: " + orjson.dumps(GOOD) + b'\n\ndata: {"choices": 5}\n\n',
    "tool-calls-number": b"data: "
    + orjson.dumps(GOOD)
    + b'\n\ndata: {"choices": [{"delta": {"tool_calls": 7}}]}\n\ndata: [DONE]\n\n',
    "not-json": b"data: " + orjson.dumps(GOOD) + b"\n\ndata: {nope\n\n",
    "huge-line": b"data: " + orjson.dumps(GOOD) + b"\n\ndata: " + b"x" * (9 * 1024 * 1024),
    "no-done": b"data: " + orjson.dumps(GOOD) + b"\n\n",
}
WHOLE: dict[str, Any] = {
    "bad-tool-calls": {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": ["oops", {"function": 3}],
                }
            }
        ]
    },
    "negative-usage": {
        "choices": [{"message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": -5, "completion_tokens": True},
    },
    "no-choices": {"object": "chat.completion"},
}


@pytest.fixture
async def garbage_upstream() -> AsyncIterator[int]:
    """A real HTTP server on loopback answering what the model name asks for."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        name = body["model"]
        if body.get("stream"):
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            await response.write(STREAMS[name])
            await response.write_eof()
            return response
        return web.json_response(WHOLE[name])

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


def _models(port: int) -> dict[str, Any]:
    return {
        name: {"deployments": [{"model": name, "base_url": f"http://127.0.0.1:{port}/v1"}]}
        for name in [*STREAMS, *WHOLE]
    }


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("array-event", "sent a stream event that is not an object"),
        ("choices-number", "ended the stream without [DONE]"),
        ("not-json", "sent a stream event that is not JSON"),
        ("huge-line", "broke off the stream"),
        ("no-done", "ended the stream without [DONE]"),
    ],
)
async def test_bad_stream_ends_with_an_error_event(
    gateway_client: Any, garbage_upstream: int, name: str, fragment: str
) -> None:
    client = await gateway_client(models=_models(garbage_upstream))
    response = await client.post(
        "/v1/chat/completions", json={"model": name, "messages": MSG, "stream": True}
    )
    assert response.status_code == 200
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert orjson.loads(events[0])["choices"][0]["delta"]["content"] == "ok"
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "upstream_stream_broken"
    assert fragment in error["message"]


async def test_odd_tool_calls_in_a_stream_are_relayed_and_counted(
    gateway_client: Any, garbage_upstream: int
) -> None:
    client = await gateway_client(models=_models(garbage_upstream))
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "tool-calls-number", "messages": MSG, "stream": True},
    )
    assert response.text.endswith("data: [DONE]\n\n")
    # usage is counted from the text that could be read: "ok" only
    metrics = (await client.get("/metrics")).text
    assert (
        'agentdeck_gateway_tokens_total{deployment="tool-calls-number/0",direction="output"} 1.0'
        in metrics
    )


@pytest.mark.parametrize(
    ("name", "status", "check"),
    [
        ("bad-tool-calls", 200, lambda r: r.headers["x-agentdeck-usage-counted"] == "true"),
        ("negative-usage", 200, lambda r: r.headers["x-agentdeck-usage-counted"] == "true"),
        ("no-choices", 502, lambda r: "answered without choices" in r.json()["error"]["message"]),
    ],
)
async def test_bad_whole_answer_is_handled(
    gateway_client: Any, garbage_upstream: int, name: str, status: int, check: Any
) -> None:
    client = await gateway_client(models=_models(garbage_upstream))
    response = await client.post("/v1/chat/completions", json={"model": name, "messages": MSG})
    assert response.status_code == status, response.text
    assert check(response)
    assert (await client.get("/healthz")).status_code == 200
