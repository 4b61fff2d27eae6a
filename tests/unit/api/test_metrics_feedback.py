"""`/api/v1/metrics` and `/api/v1/feedback` through the app: gateway calls become metrics that
agree with their spans (and with feedback given through the API), feedback is recorded for
the caller (end users hashed), bad input is a 400 naming the parameter and never a 5xx, and
no role of one tenant reaches another's traces or feedback. SQLite, and PostgreSQL where the
store matters."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount

from agentdeck.gateway.call_spans import hashed_user
from agentdeck.tracing.aggregates import nearest_rank
from tests.unit.api._deck import MODELS, Deck
from tests.unit.api._isolation import (
    B_FEEDBACK,
    ROLES,
    World,
    build,
    leaks,
    observability_cases,
    snapshot,
)
from tests.unit.api.conftest import DeckFactory

PRICED = {"provider": "fake", "model": "fake", "input_price": 3, "output_price": 15}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
DEEP: list[Any] = []
for _ in range(300):  # deeper than a JSON object may be stored
    DEEP = [DEEP]
SPAN = "00f067aa0ba902b7"


def _models() -> dict[str, Any]:
    return {
        **MODELS,
        "priced": {"deployments": [{**PRICED, "id": "priced/one"}]},
        "cached": {"deployments": [{**PRICED, "id": "cached/one"}], "cache": True},
        "broken": {
            "deployments": [{"provider": "fake", "model": "broken", "id": "broken/one"}],
            "retries": {"attempts": 1},
        },
    }


@pytest.fixture
async def observed(store_database: dict[str, str] | None, open_deck: DeckFactory) -> Deck:
    """The app with priced, cached and failing aliases (SQLite, and PostgreSQL)."""
    extra: dict[str, Any] = {"database": store_database} if store_database else {}
    fake_models = {"broken": {"fail_status": 503, "fail_message": "down for a test"}}
    deck: Deck = await open_deck(models=_models(), fake_models=fake_models, **extra)
    return deck


async def _call(deck: Deck, model: str, content: str = "hi", **headers: str) -> str:
    """A chat call as the owner; its trace id once its span is stored."""
    answer = await deck.client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": content}], "user": "alice"},
        headers={**deck.owner, **headers},
    )
    assert answer.status_code in (200, 502), answer.text
    trace_id = answer.headers["x-agentdeck-trace-id"]
    await deck.wait_for_trace(deck.owner, trace_id)
    return trace_id


async def _all_spans(deck: Deck) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await deck.api("GET", "/spans?limit=500" + (f"&cursor={cursor}" if cursor else ""))
        found += page["data"]
        if page["next"] is None:
            return found
        cursor = page["next"]


def _expected(
    found: list[dict[str, Any]], bucket_s: int, group: str, feedback: dict[str, list[float]]
) -> list[dict[str, Any]]:
    """Metrics computed from spans as the API lists them (feedback: scores by span id)."""
    cells: dict[tuple[int, Any], list[dict[str, Any]]] = {}
    for span in found:
        value = span["response_model"] or span["request_model"] if group == "model" else None
        value = span["deployment"] if group == "deployment" else value
        start = span["start_ns"] - span["start_ns"] % (bucket_s * 1_000_000_000)
        cells.setdefault((start, value), []).append(span)
    rows = []
    for (start, value), members in cells.items():
        durations = [round(span["duration_ms"] * 1000) for span in members]
        errors = sum(span["status"] == "error" for span in members)
        hits = sum(span.get("cache") == "hit" for span in members)
        misses = sum(span.get("cache") == "miss" for span in members)
        scores = [s for span in members for s in feedback.get(span["span_id"], [])]
        rows.append(
            {
                "start_ns": start,
                "group": value,
                "requests": len(members),
                "errors": errors,
                "error_rate": errors / len(members),
                **{f"latency_p{p}_ms": nearest_rank(durations, p) / 1000 for p in (50, 95, 99)},
                "input_tokens": sum(span["input_tokens"] or 0 for span in members),
                "output_tokens": sum(span["output_tokens"] or 0 for span in members),
                "cost_micros": sum(span["cost_micros"] or 0 for span in members),
                "cache_hits": hits,
                "cache_misses": misses,
                "cache_hit_rate": hits / (hits + misses) if hits + misses else None,
                "tool_calls": 0,
                "tool_errors": 0,
                "tool_success_rate": None,
                "feedback_count": len(scores),
                "feedback_score_mean": sum(scores) / len(scores) if scores else None,
                "thumbs_up": sum(s == 1.0 for s in scores),
                "thumbs_down": sum(s == 0.0 for s in scores),
            }
        )
    return sorted(rows, key=lambda r: (r["start_ns"], r["group"] is not None, r["group"] or ""))


# --- metrics -------------------------------------------------------------------------------


async def test_metrics_of_gateway_calls_agree_with_their_spans(observed: Deck) -> None:
    deck = observed
    since = time.time() - 60
    traces = [
        await _call(deck, model, f"question {n % 3}")
        for n, model in enumerate(
            ["priced", "priced", "fake-a", "broken", "priced", "fake-b", "broken"]
        )
    ]
    traces += [await _call(deck, "cached", "same question") for _ in range(3)]
    await deck.api("POST", "/feedback", json={"trace_id": traces[0], "thumbs": "up"}, expect=201)
    await deck.api("POST", "/feedback", json={"trace_id": traces[1], "thumbs": "down"}, expect=201)
    await deck.api("POST", "/feedback", json={"trace_id": traces[2], "thumbs": "up"}, expect=201)
    found = await _all_spans(deck)
    assert len(found) == 10
    by_trace = {span["trace_id"]: span["span_id"] for span in found}
    scores = {by_trace[traces[0]]: [1.0], by_trace[traces[1]]: [0.0], by_trace[traces[2]]: [1.0]}
    window = urlencode({"since": f"{since:.0f}", "until": f"{time.time() + 60:.0f}"})
    for group in ("model", "deployment"):
        answer = await deck.api("GET", f"/metrics?group_by={group}&bucket=86400&{window}")
        assert (answer["bucket"], answer["group_by"]) == (86400, group)
        for row in answer["data"]:
            assert row.pop("start").endswith("T00:00:00Z")  # days start at midnight UTC
        assert answer["data"] == _expected(found, 86400, group, scores)
    by_alias = await deck.api("GET", f"/metrics?group_by=model&bucket=86400&{window}")
    rows = {row["group"]: row for row in by_alias["data"]}
    assert sum(row["requests"] for row in rows.values()) == 10
    broken = next(row for row in rows.values() if row["errors"])
    assert (broken["requests"], broken["errors"], broken["error_rate"]) == (2, 2, 1.0)
    assert sum(row["cache_hits"] for row in rows.values()) == 2  # the same question, thrice
    assert sum(row["cache_misses"] for row in rows.values()) == 1
    assert sum(row["feedback_count"] for row in rows.values()) == 3
    assert sum(row["cost_micros"] for row in rows.values()) > 0
    # the filters of /spans apply
    errors_only = await deck.api("GET", f"/metrics?status=error&bucket=86400&{window}")
    assert [(r["requests"], r["errors"]) for r in errors_only["data"]] in ([(2, 2)], [(1, 1)] * 2)
    viewer = await deck.member("vera", "viewer")
    seen = await deck.api("GET", f"/metrics?bucket=86400&{window}", viewer.headers)
    assert sum(row["requests"] for row in seen["data"]) == 10


async def test_metrics_default_to_the_last_day_in_5_minute_buckets(deck: Deck) -> None:
    before = time.time()
    answer = await deck.api("GET", "/metrics")
    assert set(answer) == {"since", "until", "bucket", "group_by", "data"}
    assert (answer["bucket"], answer["group_by"], answer["data"]) == (300, None, [])
    assert answer["since"].endswith("Z")
    assert answer["until"].endswith("Z")
    assert (await deck.api("GET", "/metrics?group_by=none"))["group_by"] is None
    hourly = await deck.api("GET", "/metrics?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00Z")
    assert (hourly["since"], hourly["until"], hourly["bucket"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        300,
    )
    week = await deck.api(
        "GET", "/metrics?since=2026-01-01T00:00:00%2B02:00&until=2026-01-08T00:00Z"
    )
    assert (week["since"], week["bucket"]) == ("2025-12-31T22:00:00Z", 1800)
    assert time.time() - before < 5


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ("bucket=0", "query.bucket", "greater than or equal to 1"),
        ("bucket=abc", "query.bucket", "valid integer"),
        ("bucket=1", "bucket", "86401 buckets"),  # the default day in 1 s buckets
        ("bucket=60&since=2026-01-01T00:00Z&until=2026-02-01T00:00Z", "bucket", "44640 buckets"),
        ("bucket=999999999999", "query.bucket", "less than or equal to"),
        ("group_by=colour", "query.group_by", "group_by"),
        ("since=2026-01-01T00:00:00", "since", "time zone"),
        ("until=yesterday", "query.until", "datetime"),
        ("since=2026-01-02T00:00Z&until=2026-01-01T00:00Z", "until", "later than since"),
        ("since=2999-01-01T00:00:00Z", "since", "later than since"),
        ("status=fine", "query.status", "status"),
        ("feedback_name=" + "x" * 65, "query.feedback_name", "64 characters"),
        ("min_cost_micros=-1", "query.min_cost_micros", "greater than"),
    ],
)
async def test_bad_metrics_parameters_are_400s_naming_them(
    deck: Deck, query: str, param: str, words: str
) -> None:
    answer = await deck.api("GET", f"/metrics?{query}", expect=400)
    assert answer["error"]["param"] == param
    assert words in answer["error"]["message"]


PARAMS = ["since", "until", "bucket", "group_by", "feedback_name", "model", "status", "tag",
          "project_id", "trace_id", "min_duration_ms", "prompt_version", "cursor"]  # fmt: skip
VALUES = ["", "0", "-1", "1", "60", "86400", "3600.5", "2**70", "99999999999999999999", "model",
          "prompt_version", "none", "user", "error", "2026-01-01T00:00:00Z", "2026-01-01",
          "1970-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00Z",
          "%", "_", "\u202e", "a" * 300, "1" * 32]  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_metrics_parameters_never_fail(observed: Deck, data: st.DataObject) -> None:
    deck = observed
    if not (await deck.api("GET", "/spans?limit=1"))["data"]:
        called = await _call(deck, "priced")
        await deck.api("POST", "/feedback", json={"trace_id": called, "score": 2}, expect=201)
    query = data.draw(
        st.lists(
            st.tuples(st.sampled_from(PARAMS), st.sampled_from(VALUES) | st.text(max_size=12)),
            max_size=5,
        ),
        label="query",
    )
    response = await deck.client.get("/api/v1/metrics", params=query, headers=deck.owner)
    assert response.status_code in (200, 400), (query, response.text)
    body = response.json()
    if response.status_code == 200:
        assert all(row["requests"] >= 1 for row in body["data"])
    elif not any("\x00" in name + value for name, value in query):  # NUL: refused up front
        assert body["error"]["param"], (query, body)


# --- feedback ------------------------------------------------------------------------------


async def test_feedback_is_recorded_for_the_caller(deck: Deck) -> None:
    me = await deck.api("GET", "/me")
    given = {
        "trace_id": TRACE.upper(),
        "span_id": SPAN.upper(),
        "score": 4,
        "thumbs": "up",
        "comment": "spot on",
        "user": "alice@example.com",
        "name": "helpfulness",
        "metadata": {"screen": "chat", "n": [1, 2.5, None]},
    }
    made = await deck.api("POST", "/feedback", json=given, expect=201)
    assert made["id"].startswith("fb_")
    assert made["created_ns"] == pytest.approx(time.time_ns(), abs=5 * 10**9)
    assert made["created_time"].endswith("Z")
    shown = {k: v for k, v in made.items() if k not in ("id", "created_ns", "created_time")}
    assert shown == {
        "tenant_id": me["tenant_id"],
        "project_id": me["project_id"],
        "principal_id": me["principal_id"],
        "trace_id": TRACE,
        "span_id": SPAN,
        "name": "helpfulness",
        "score": 4.0,
        "thumbs": "up",
        "comment": "spot on",
        "user_id": hashed_user(me["tenant_id"], "alice@example.com"),
        "metadata": {"screen": "chat", "n": [1, 2.5, None]},
    }
    plain = await deck.api(
        "POST", "/feedback", json={"trace_id": TRACE, "thumbs": "down"}, expect=201
    )
    assert (plain["name"], plain["span_id"], plain["score"], plain["user_id"]) == (
        "user",
        None,
        None,
        None,
    )
    assert plain["metadata"] == {}
    listed = await deck.api("GET", f"/feedback?trace_id={TRACE}")
    assert listed == {"data": [plain, made], "next": None}


async def test_feedback_keeps_raw_user_ids_in_projects_that_ask(deck: Deck) -> None:
    me = await deck.api("GET", "/me")
    api = next(
        r
        for r in deck.client._transport.app.routes  # type: ignore[attr-defined]
        if isinstance(r, Mount) and r.path == "/api"
    ).app
    api.state.services = dataclasses.replace(
        api.state.services, raw_user_id_projects=frozenset({me["project_id"]})
    )
    made = await deck.api(
        "POST", "/feedback", json={"trace_id": TRACE, "thumbs": "up", "user": "alice"}, expect=201
    )
    assert made["user_id"] == "alice"
    api.state.services = dataclasses.replace(
        api.state.services, raw_user_id_projects=frozenset({"another-project"})
    )
    hashed = await deck.api(
        "POST", "/feedback", json={"trace_id": TRACE, "thumbs": "up", "user": "alice"}, expect=201
    )
    assert hashed["user_id"] == hashed_user(me["tenant_id"], "alice")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"trace_id": TRACE}, "score"),  # neither score nor thumbs
        ({"trace_id": TRACE, "comment": "only words"}, "score"),
        ({"thumbs": "up"}, "trace_id"),
        ({"trace_id": "abc", "thumbs": "up"}, "trace_id"),
        ({"trace_id": "g" * 32, "thumbs": "up"}, "trace_id"),
        ({"trace_id": "0" * 32, "thumbs": "up"}, "trace_id"),
        ({"trace_id": TRACE, "span_id": "0" * 16, "thumbs": "up"}, "span_id"),
        ({"trace_id": TRACE, "span_id": "xyz", "thumbs": "up"}, "span_id"),
        ({"trace_id": TRACE, "thumbs": "sideways"}, "thumbs"),
        ({"trace_id": TRACE, "score": True}, "score"),
        ({"trace_id": TRACE, "score": "1"}, "score"),
        ({"trace_id": TRACE, "score": 1e10}, "score"),
        ({"trace_id": TRACE, "score": 1, "comment": "x" * 4001}, "comment"),
        ({"trace_id": TRACE, "score": 1, "user": ""}, "user"),
        ({"trace_id": TRACE, "score": 1, "name": ""}, "name"),
        ({"trace_id": TRACE, "score": 1, "name": "n" * 65}, "name"),
        ({"trace_id": TRACE, "score": 1, "metadata": [1]}, "metadata"),
        ({"trace_id": TRACE, "score": 1, "metadata": {"n": 2**70}}, "metadata"),
        ({"trace_id": TRACE, "score": 1, "metadata": {"x": "y" * 20_000}}, "metadata"),
        ({"trace_id": TRACE, "score": 1, "metadata": {"deep": DEEP}}, "metadata"),
        ({"trace_id": TRACE, "score": 1, "project_id": "p"}, "project_id"),  # not the caller's
        ({"trace_id": TRACE, "score": 1, "comment": "a\x00b"}, None),
    ],
)
async def test_bad_feedback_is_a_400_naming_the_field(
    deck: Deck, body: dict[str, Any], param: str | None
) -> None:
    answer = await deck.api("POST", "/feedback", json=body, expect=400)
    assert answer["error"]["param"] == param, answer
    assert (await deck.api("GET", "/feedback"))["data"] == []


NOT_JSON = [
    b'{"trace_id": "%s", "score": 1, "metadata": {"k": "\\ud800"}}',  # a lone surrogate
    b'{"trace_id": "%s", "score": NaN}',
    b'{"trace_id": "%s", "score": Infinity}',
    b'{"trace_id": "%s", "score": 1',
]


@pytest.mark.parametrize("raw", NOT_JSON)
async def test_not_quite_json_or_unstorable_text_is_a_400(deck: Deck, raw: bytes) -> None:
    response = await deck.client.post(
        "/api/v1/feedback",
        content=raw % TRACE.encode(),
        headers={**deck.owner, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert (await deck.api("GET", "/feedback"))["data"] == []


async def test_feedback_pages_and_filters(deck: Deck) -> None:
    other = "5" * 32
    made = []
    for n in range(5):
        body = {"trace_id": TRACE if n % 2 else other, "score": n, "name": f"label-{n % 2}"}
        made.append(await deck.api("POST", "/feedback", json=body, expect=201))
    seen, cursor, pages = [], "", 0
    while True:
        page = await deck.api("GET", "/feedback?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [row["id"] for row in page["data"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert (seen, pages) == ([row["id"] for row in reversed(made)], 3)
    mine = await deck.api("GET", f"/feedback?trace_id={other}&name=label-0")
    assert [row["score"] for row in mine["data"]] == [4.0, 2.0, 0.0]
    at = made[3]["created_ns"] // 1000  # microseconds: what ISO 8601 here can say
    since = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at)).isoformat()
    recent = await deck.api("GET", "/feedback?" + urlencode({"since": since}))
    assert [row["score"] for row in recent["data"]] == [4.0, 3.0]
    await deck.api("GET", "/feedback?cursor=garbage!", expect=400)
    await deck.api("GET", "/feedback?trace_id=xyz", expect=400)
    await deck.api("GET", "/feedback?since=2026-01-01T00:00:00", expect=400)
    assert (await deck.api("GET", "/feedback?span_id=" + SPAN))["data"] == []


async def test_giving_feedback_needs_traces_write_and_reading_needs_traces_read(
    deck: Deck,
) -> None:
    viewer = await deck.member("vera", "viewer")
    developer = await deck.member("dev", "developer")
    await deck.api(
        "POST", "/roles", json={"name": "caller-only", "permissions": ["models:use"]}, expect=201
    )
    caller = await deck.member("cal", "caller-only")
    body = {"trace_id": TRACE, "thumbs": "up"}
    denied = await deck.api("POST", "/feedback", viewer.headers, body, expect=403)
    assert "traces:write" in denied["error"]["message"]
    await deck.api("POST", "/feedback", developer.headers, body, expect=201)
    assert len((await deck.api("GET", "/feedback", viewer.headers))["data"]) == 1
    for path in ("/feedback", "/metrics"):
        refused = await deck.api("GET", path, caller.headers, expect=403)
        assert "traces:read" in refused["error"]["message"]
    await deck.api("POST", "/feedback", caller.headers, body, expect=403)


# --- tenants -------------------------------------------------------------------------------


async def _walk(
    deck: Deck, world: World, role: str, method: str, url: str, body: Any, allowed: set[int]
) -> list[str]:
    response = await deck.client.request(method, url, headers=world.callers[role], json=body)
    what = f"{method} {url} {body}"
    problems = []
    if response.status_code not in allowed:
        problems.append(f"[{role}] {what} -> {response.status_code} {response.text[:200]}")
    media_type = response.headers.get("content-type", "")
    found = leaks(world, what, response.text, media_type, world.a.tenant_id)
    world.sent.append(what)
    if found:
        problems.append(f"[{role}] {what} -> shows B's {found}")
    return problems


async def test_no_role_of_a_reaches_b_through_metrics_or_feedback(store_deck: Deck) -> None:
    deck = store_deck
    world = await build(deck)
    b = world.b_ids
    before = await snapshot(deck, world.b.tenant_id)
    b_metrics = await deck.api("GET", "/metrics?group_by=model", world.b.headers)
    b_feedback = await deck.api("GET", "/feedback", world.b.headers)
    assert [row["comment"] for row in b_feedback["data"]] == [B_FEEDBACK]
    assert sum(row["feedback_count"] for row in b_metrics["data"]) == 1
    queries = [
        {"trace_id": b["trace"]},
        {"trace_id": b["trace"], "group_by": "user"},
        {"project_id": b["main_project"], "group_by": "project"},
        {"project_id": b["project"]},
        {"group_by": "model", "model": "fake-a"},
        {"feedback_name": "b-feedback-name", "group_by": "deployment"},
    ]
    problems: list[str] = []
    for role in ROLES:
        for query in queries:
            url = "/api/v1/metrics?" + urlencode(query)
            problems += await _walk(deck, world, role, "GET", url, None, {200})
        for query in (
            {"trace_id": b["trace"]},
            {"span_id": b["span"]},
            {"name": "b-feedback-name"},
            {"project_id": b["main_project"]},
            {},
        ):
            url = "/api/v1/feedback?" + urlencode(query)
            problems += await _walk(deck, world, role, "GET", url, None, {200})
        for (method, path), variants in observability_cases(world).items():
            for params, body, names_b in variants:
                allowed = {403, 404} if names_b else {200, 201, 403}
                url = "/api" + path.format(**params)
                problems += await _walk(deck, world, role, method, url, body, allowed)
        assert await snapshot(deck, world.b.tenant_id) == before, f"{role} changed B's rows"
    assert problems == []
    # A's feedback on B's trace id stays A's: B's view is as it was...
    again = await deck.api("GET", "/metrics?group_by=model", world.b.headers)
    assert again["data"] == b_metrics["data"]
    assert await deck.api("GET", "/feedback", world.b.headers) == b_feedback
    # ...and A, which has no span of that trace, counts none of it.
    a_view = await deck.api("GET", "/feedback?trace_id=" + b["trace"], world.a.headers)
    assert len(a_view["data"]) == 2 * 3  # two cases, three roles with traces:write
    assert {row["tenant_id"] for row in a_view["data"]} == {world.a.tenant_id}
    a_metrics = await deck.api("GET", "/metrics", world.a.headers)
    assert a_metrics["data"] == []
