"""The gateway pipeline in-process with the `fake` provider: answers, streams, costs, failures."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from agentdeck.db.migrate import head_revision
from agentdeck.gateway.tokens import count_messages, count_text
from tests.unit.gateway._metrics import metric_value

MSG = [{"role": "user", "content": "hello there world"}]
PRICED = {
    "priced": {
        "deployments": [
            {"provider": "fake", "model": "fake", "input_price": "2", "output_price": "8"}
        ]
    }
}


def _events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


async def test_echo_with_usage_and_headers(gateway_client: Any) -> None:
    client = await gateway_client(models=PRICED)
    response = await client.post("/v1/chat/completions", json={"model": "priced", "messages": MSG})
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "hello there world"
    assert body["choices"][0]["finish_reason"] == "stop"
    prompt, completion = count_messages(MSG), count_text("hello there world")
    assert body["usage"]["prompt_tokens"] == prompt
    assert body["usage"]["completion_tokens"] == completion
    assert response.headers["x-agentdeck-deployment"] == "priced/0"
    assert int(response.headers["x-agentdeck-cost-micros"]) == math.ceil(
        prompt * 2 + completion * 8
    )
    assert re.fullmatch(r"req_[0-9a-f]{24}", response.headers["x-agentdeck-request-id"])


async def test_stream_passes_chunks_and_hides_usage_unless_asked(gateway_client: Any) -> None:
    client = await gateway_client(models=PRICED)
    plain = await client.post(
        "/v1/chat/completions", json={"model": "priced", "messages": MSG, "stream": True}
    )
    assert plain.headers["content-type"].startswith("text/event-stream")
    events = _events(plain.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == (
        "hello there world"
    )
    assert all("usage" not in c for c in chunks)
    expected_cost = math.ceil(count_messages(MSG) * 2 + count_text("hello there world") * 8)
    assert f": agentdeck-cost-micros={expected_cost}\n" in plain.text

    asked = await client.post(
        "/v1/chat/completions",
        json={
            "model": "priced",
            "messages": MSG,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    last = orjson.loads(_events(asked.text)[-2])
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == count_text("hello there world")


async def test_tool_calls_whole_and_streamed(gateway_client: Any) -> None:
    fake_models = {
        "tooly": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}
    }
    client = await gateway_client(fake_models=fake_models)
    whole = (
        await client.post("/v1/chat/completions", json={"model": "tooly", "messages": MSG})
    ).json()
    call = whole["choices"][0]["message"]["tool_calls"][0]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Oslo"}

    streamed = await client.post(
        "/v1/chat/completions", json={"model": "tooly", "messages": MSG, "stream": True}
    )
    chunks = [orjson.loads(e) for e in _events(streamed.text)[:-1]]
    arguments = "".join(
        tc["function"].get("arguments", "")
        for c in chunks
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    )
    assert orjson.loads(arguments) == {"city": "Oslo"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_failures_map_to_status_and_metrics(gateway_client: Any) -> None:
    fake_models = {
        "down": {"fail_status": 503, "fail_message": "overloaded"},
        "limited": {"fail_status": 429, "retry_after_s": 7},
        "flaky": {"fail_status": 500, "fail_times": 1},
        "hang": {"timeout": True},
    }
    models = {
        "hang": {"deployments": [{"provider": "fake", "model": "hang", "timeout_s": 0.1}]},
        # a Retry-After of 7 s would outlive this deadline: no retry, the 429 at once
        "limited": {"deployments": [{"provider": "fake", "model": "limited"}], "deadline_s": 3},
    }
    client = await gateway_client(fake_models=fake_models, models=models)
    down = await client.post("/v1/chat/completions", json={"model": "down", "messages": MSG})
    assert down.status_code == 502
    assert down.json()["error"]["message"] == "upstream down/fake answered 503: overloaded"
    assert down.headers["x-agentdeck-attempts"] == "2"  # the default: one retry of a 5xx
    limited = await client.post("/v1/chat/completions", json={"model": "limited", "messages": MSG})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.headers["x-agentdeck-attempts"] == "1"
    assert limited.json()["error"]["code"] == "upstream_rate_limited"
    first = await client.post("/v1/chat/completions", json={"model": "flaky", "messages": MSG})
    second = await client.post("/v1/chat/completions", json={"model": "flaky", "messages": MSG})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-agentdeck-attempts"], second.headers["x-agentdeck-attempts"]) == (
        "2",
        "1",
    )
    hang = await client.post("/v1/chat/completions", json={"model": "hang", "messages": MSG})
    assert hang.status_code == 504
    assert hang.json()["error"]["code"] == "upstream_timeout"
    assert hang.headers["x-agentdeck-attempts"] == "2"
    streamed_down = await client.post(
        "/v1/chat/completions", json={"model": "down", "messages": MSG, "stream": True}
    )
    assert streamed_down.status_code == 502  # failed before the first event: a plain error

    metrics = (await client.get("/metrics")).text
    assert (
        metric_value(
            metrics,
            "agentdeck_gateway_upstream_errors_total",
            deployment="down/fake",
            reason="upstream_error",
        )
        == 4  # two requests (whole and streamed), each tried twice
    )
    assert (
        metric_value(
            metrics,
            "agentdeck_gateway_upstream_errors_total",
            deployment="hang/0",
            reason="upstream_timeout",
        )
        == 2
    )
    assert (
        metric_value(
            metrics,
            "agentdeck_gateway_calls_total",
            alias="flaky",
            deployment="flaky/fake",
            outcome="ok",
        )
        == 2  # both calls succeeded, the first on its retry
    )


async def test_stream_reset_sends_error_event_and_charges_once(gateway_client: Any) -> None:
    fake_models = {"breaks": {"reset_after_chunks": 3, "reply": "one two three four five"}}
    models = {
        "breaks": {
            "deployments": [
                {"provider": "fake", "model": "breaks", "input_price": "1", "output_price": "1"}
            ]
        }
    }
    client = await gateway_client(fake_models=fake_models, models=models)
    response = await client.post(
        "/v1/chat/completions", json={"model": "breaks", "messages": MSG, "stream": True}
    )
    events = _events(response.text)
    assert len(events) == 4  # role chunk, "one ", "two ", then the error event
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "upstream_stream_broken"
    assert "reset the stream after 3 chunks" in error["message"]
    assert "[DONE]" not in response.text
    streamed = count_text("one two ")
    metrics = (await client.get("/metrics")).text
    assert (
        metric_value(
            metrics, "agentdeck_gateway_tokens_total", deployment="breaks/0", direction="output"
        )
        == streamed
    )
    assert (
        metric_value(metrics, "agentdeck_gateway_cost_micros_total", deployment="breaks/0")
        == count_messages(MSG) + streamed
    )
    assert (
        metric_value(
            metrics,
            "agentdeck_gateway_calls_total",
            alias="breaks",
            deployment="breaks/0",
            outcome="error",
        )
        == 1
    )
    assert metric_value(metrics, "agentdeck_gateway_streams_open") == 0


async def test_embeddings_models_and_health(gateway_client: Any) -> None:
    client = await gateway_client(fake_models={"emb": {"embedding_dimensions": 8}})
    response = await client.post("/v1/embeddings", json={"model": "emb", "input": ["a", "b"]})
    data = response.json()["data"]
    assert [len(item["embedding"]) for item in data] == [8, 8]
    assert math.isclose(sum(v * v for v in data[0]["embedding"]), 1.0, rel_tol=1e-9)
    assert data[0]["embedding"] != data[1]["embedding"]
    models = (await client.get("/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["emb", "fake"]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert (ready["store"], ready["kv"], ready["kv_backend"]) == ("ok", "ok", "memory")
    assert ready["schema_revision"] == head_revision()
    metrics = (await client.get("/metrics")).text
    assert (
        metric_value(
            metrics,
            "agentdeck_http_requests_total",
            route="/v1/embeddings",
            method="POST",
            status="200",
        )
        == 1
    )


async def test_refused_credentials_and_spend_caps_are_never_retried(gateway_client: Any) -> None:
    fake_models = {
        "badkey": {"fail_status": 401, "fail_message": "invalid x-api-key"},
        "broke": {"fail_status": 429, "fail_message": "You exceeded your current quota "
                  "(insufficient_quota)"},
        "ok": {"reply": "served elsewhere"},
    }  # fmt: skip
    models = {
        # a refused deployment is skipped for the next one in the same alias, without a pause
        "pair": {"deployments": [{"provider": "fake", "model": "badkey", "id": "pair/bad"},
                                 {"provider": "fake", "model": "ok", "id": "pair/ok"}],
                 "retries": {"attempts": 3, "backoff_ms": 5000}},
        # alone, it is not tried again, and upstream_down fallbacks apply
        "capped": {"deployments": [{"provider": "fake", "model": "broke"}],
                   "retries": {"attempts": 3}, "fallbacks": {"upstream_down": ["ok"]}},
        "lonely": {"deployments": [{"provider": "fake", "model": "badkey"}],
                   "retries": {"attempts": 3}},
    }  # fmt: skip
    client = await gateway_client(fake_models=fake_models, models=models)
    pair = await client.post("/v1/chat/completions", json={"model": "pair", "messages": MSG})
    assert pair.status_code == 200
    assert (pair.headers["x-agentdeck-deployment"], pair.headers["x-agentdeck-attempts"]) == (
        "pair/ok",
        "2",
    )
    capped = await client.post("/v1/chat/completions", json={"model": "capped", "messages": MSG})
    assert capped.status_code == 200
    assert capped.headers["x-agentdeck-fallback-path"] == "capped>ok"
    assert capped.headers["x-agentdeck-attempts"] == "2"  # one on capped/0, one on ok
    lonely = await client.post("/v1/chat/completions", json={"model": "lonely", "messages": MSG})
    assert lonely.status_code == 502
    assert lonely.json()["error"]["code"] == "upstream_auth_failed"
    assert lonely.headers["x-agentdeck-attempts"] == "1"
