"""Gateway calls become spans (GenAI attributes, the client's trace continued, session and
user), read back through `/api/v1/spans`, `/traces`, `/traces/{id}` and `/sessions`."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.unit.api._deck import MODELS, MSG, Deck
from tests.unit.api.conftest import DeckFactory

CLIENT_TRACE, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
PRICED = {"provider": "fake", "model": "fake", "input_price": 3, "output_price": 15}


@pytest.fixture
async def traced(open_deck: DeckFactory) -> Deck:
    """A deck whose models include a priced alias and one whose upstream always fails."""
    models = {
        **MODELS,
        "priced": {"deployments": [{**PRICED, "id": "priced/one"}]},
        "broken": {
            "deployments": [{"provider": "fake", "model": "broken", "id": "broken/one"}],
            "retries": {"attempts": 1},
        },
    }
    fake_models = {"broken": {"fail_status": 503, "fail_message": "down for a test"}}
    deck: Deck = await open_deck(models=models, fake_models=fake_models)
    return deck


async def _chat(deck: Deck, model: str, **headers: str) -> Any:
    return await deck.client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": MSG, "user": "alice@example.com"},
        headers={**deck.owner, **headers},
    )


async def test_a_call_is_a_genai_span_in_the_clients_trace(traced: Deck) -> None:
    deck = traced
    answer = await _chat(
        deck,
        "priced",
        traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
        **{"x-agentdeck-session-id": "conversation-7", "x-agentdeck-tags": "eval,beta"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-agentdeck-trace-id"] == CLIENT_TRACE
    trace = await deck.wait_for_trace(deck.owner, CLIENT_TRACE)
    assert trace["span_count"] == 1
    (span,) = trace["spans"]  # its parent is the client's span, which agentdeck never saw
    me = await deck.api("GET", "/me")
    usage = answer.json()["usage"]
    cost = int(answer.headers["x-agentdeck-cost-micros"])
    assert cost > 0
    assert span["parent_span_id"] == CLIENT_SPAN
    assert span["name"] == "chat priced"
    assert (span["kind"], span["status"], span["source"]) == ("client", "ok", "gateway")
    assert (span["input_tokens"], span["output_tokens"], span["cost_micros"]) == (
        usage["prompt_tokens"], usage["completion_tokens"], cost
    )  # fmt: skip
    assert span["session_id"] == "conversation-7"
    assert span["user_id"].startswith("h:")
    assert "alice" not in str(span)
    assert span["deployment"] == "priced/one"
    assert span["end_ns"] >= span["start_ns"] > 0
    attributes = span["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "priced"
    assert attributes["gen_ai.response.model"] == answer.json()["model"]
    assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attributes["agentdeck.request_id"] == answer.headers["x-agentdeck-request-id"]
    assert attributes["agentdeck.tenant.id"] == me["tenant_id"]
    assert attributes["agentdeck.tags"] == ["eval", "beta"]
    assert attributes["agentdeck.cost_micros"] == cost
    assert "error.type" not in attributes


async def test_a_failed_call_is_an_error_span_and_a_new_trace_without_traceparent(
    traced: Deck,
) -> None:
    deck = traced
    failed = await _chat(deck, "broken", traceparent="00-not-a-valid-header-01")
    assert failed.status_code == 502  # the upstream answered 503
    trace_id = failed.headers["x-agentdeck-trace-id"]
    assert len(trace_id) == 32
    assert trace_id != CLIENT_TRACE
    (span,) = (await deck.wait_for_trace(deck.owner, trace_id))["spans"]
    assert span["parent_span_id"] is None
    assert span["status"] == "error"
    assert "down for a test" in span["status_message"]
    assert span["attributes"]["error.type"] == "upstream_error"
    listed = await deck.api("GET", "/spans?status=error")
    assert [s["span_id"] for s in listed["data"]] == [span["span_id"]]


async def test_filters_pages_and_sessions(traced: Deck) -> None:
    deck = traced
    ids = []
    for n in range(5):
        answer = await _chat(deck, "priced" if n % 2 else "fake-a",
                             **{"x-agentdeck-session-id": f"s-{n % 2}"})  # fmt: skip
        ids.append(answer.headers["x-agentdeck-trace-id"])
    for trace_id in ids:
        await deck.wait_for_trace(deck.owner, trace_id)
    seen, cursor, pages = [], None, 0
    while True:
        page = await deck.api("GET", "/traces?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [t["trace_id"] for t in page["data"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids[::-1]  # newest first, each once
    assert pages == 3
    priced = await deck.api("GET", "/spans?model=priced&min_cost_micros=1")
    assert sorted(s["trace_id"] for s in priced["data"]) == sorted([ids[1], ids[3]])
    assert (await deck.api("GET", "/spans?session_id=s-0"))["data"][0]["session_id"] == "s-0"
    sessions = (await deck.api("GET", "/sessions"))["data"]
    assert [(s["session_id"], s["trace_count"]) for s in sessions] == [("s-0", 3), ("s-1", 2)]
    assert sessions[1]["cost_micros"] == sum(s["cost_micros"] for s in priced["data"])
    viewer = await deck.member("vera", "viewer")
    assert len((await deck.api("GET", "/spans", viewer.headers))["data"]) == 5


async def test_bad_filters_are_400s_naming_the_parameter(traced: Deck) -> None:
    deck = traced
    no_zone = await deck.api("GET", "/spans?since=2026-11-21T10:00:00", expect=400)
    assert "since needs a time zone" in no_zone["error"]["message"]
    cursor = await deck.api("GET", "/spans?cursor=garbage!", expect=400)
    assert "cursor" in cursor["error"]["message"]
    huge = base64.urlsafe_b64encode(f"{2**70}:{'a' * 32}:{'b' * 16}".encode()).decode()
    await deck.api("GET", f"/spans?cursor={huge.rstrip('=')}", expect=400)
    await deck.api("GET", "/spans?status=fine", expect=400)
    await deck.api("GET", "/spans?limit=501", expect=400)
    assert (await deck.api("GET", "/spans?since=2999-01-01T00:00:00Z"))["data"] == []
    missing = await deck.api("GET", f"/traces/{'e' * 32}", expect=404)
    assert "not found" in missing["error"]["message"]
