"""Liveness, readiness and Prometheus metrics of the running gateway."""

from __future__ import annotations

import re

import httpx
import openai

from agentdeck.db.migrate import head_revision
from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._stack import Stack
from tests.integration._support import Metrics, expected_cost_micros


def test_healthz_answers_ok(stack: Stack) -> None:
    response = httpx.get(stack.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert re.match(r"^req_[0-9a-f]{24}$", response.headers["x-agentdeck-request-id"])


def test_readyz_reports_store_and_kv(stack: Stack) -> None:
    response = httpx.get(stack.url + "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "store", "kv", "kv_backend", "schema_revision")} == {
        "status": "ready",
        "store": "ok",
        "kv": "ok",
        "kv_backend": "memory",
        "schema_revision": head_revision(),
    }
    assert re.match(r"^[0-9a-f]{32}$", body["installation_id"])
    # The installation id is stored, so it is the same on every call.
    assert httpx.get(stack.url + "/readyz").json()["installation_id"] == body["installation_id"]


def test_sqlite_file_is_created_in_the_configured_place(stack: Stack) -> None:
    database = stack.gateway.log_path.parent / "x.db"
    assert database.is_file()
    assert database.stat().st_size > 0


def test_metrics_move_by_the_exact_amounts_of_a_known_call(
    stack: Stack, client: openai.OpenAI
) -> None:
    messages = [{"role": "user", "content": "Count these tokens exactly, please."}]
    text = "Count these tokens exactly, please."
    before = Metrics.scrape(stack.url)
    raw = client.chat.completions.with_raw_response.create(model="chat-metered", messages=messages)
    after = Metrics.scrape(stack.url)

    prompt, answer = count_messages(messages), count_text(text)
    cost = expected_cost_micros(prompt, answer, *stack.prices("chat-metered"))
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost
    assert after.spend_since(before, "chat-metered/0") == (prompt, answer, cost)
    assert after.calls_since(before, "chat-metered", "chat-metered/0") == {
        "ok": 1,
        "error": 0,
        "client_closed": 0,
    }
    assert after.requests_since(before, "/v1/chat/completions", "POST", 200) == 1
    # The first scrape is counted once it has been answered, so the second one sees it.
    assert after.requests_since(before, "/metrics", "GET", 200) == 1
    chat_route = {"route": "/v1/chat/completions"}
    assert after.delta(before, "agentdeck_http_request_duration_seconds_count", **chat_route) == 1
    upstream = {"deployment": "chat-metered/0"}
    assert after.delta(before, "agentdeck_gateway_upstream_duration_seconds_count", **upstream) == 1


def test_metrics_count_embeddings_and_client_errors(stack: Stack, client: openai.OpenAI) -> None:
    before = Metrics.scrape(stack.url)
    client.embeddings.create(model="embed", input="four words go here")
    bad = httpx.post(stack.url + "/v1/chat/completions", json={"model": "chat"})
    after = Metrics.scrape(stack.url)

    assert bad.status_code == 400
    tokens = count_text("four words go here")
    cost = expected_cost_micros(tokens, 0, *stack.prices("embed"))
    assert after.spend_since(before, "embed/0") == (tokens, 0, cost)
    assert after.requests_since(before, "/v1/embeddings", "POST", 200) == 1
    assert after.requests_since(before, "/v1/chat/completions", "POST", 400) == 1


def test_metrics_exposition_format(stack: Stack) -> None:
    response = httpx.get(stack.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    for name in (
        "agentdeck_gateway_tokens_total",
        "agentdeck_gateway_cost_micros_total",
        "agentdeck_http_requests_total",
        "agentdeck_gateway_streams_open",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in response.text
    assert Metrics(response.text).value("agentdeck_gateway_streams_open") == 0
