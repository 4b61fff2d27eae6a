"""Metrics over spans (SQLite, and PostgreSQL when configured): the window and its buckets,
exact figures for a hand-made set of spans, feedback anchored to the span it names or to its
trace's root, agreement with a reference computed in Python from the same rows for every
grouping and several filters, tenant isolation, and the index the queries use."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError
from agentdeck.tracing.aggregates import (
    GROUPS,
    MetricsQueries,
    MetricsWindow,
    bucket_count,
    default_bucket_s,
    metrics_window,
    nearest_rank,
)
from agentdeck.tracing.feedback import FeedbackStore, NewFeedback
from agentdeck.tracing.queries import SpanFilter
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from tests.unit.tracing.conftest import BASE_NS, SECOND_NS

A, B = "tenant-a", "tenant-b"
M0 = BASE_NS - 20 * SECOND_NS  # 2023-11-14T22:13:00Z: a whole minute (BASE_NS is 20 s past)
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS
WINDOW = MetricsWindow(M0, M0 + 2 * MINUTE_NS, 60)


def span(n: int, start_ns: int, duration_us: int, **fields: Any) -> Span:
    """Span number `n` (its own trace unless given) starting at `start_ns`."""
    fields.setdefault("tenant_id", A)
    fields.setdefault("trace_id", f"{n:032x}")
    fields.setdefault("name", f"span {n}")
    return Span(
        span_id=f"{n:016x}", start_ns=start_ns, end_ns=start_ns + duration_us * 1000, **fields
    )


async def record(engine: AsyncEngine, found: Sequence[Span]) -> None:
    """Store `found` through the recorder, as the gateway and ingest do."""
    recorder = SpanRecorder(engine, interval_s=0.01)
    await recorder.start()
    assert recorder.record_all(list(found)) is True
    await recorder.stop()
    assert recorder.writer.written == len(found)


async def give(engine: AsyncEngine, found: Sequence[NewFeedback]) -> None:
    """Store every piece of feedback in `found`."""
    store = FeedbackStore(engine)
    for n, one in enumerate(found):
        await store.add(one, now_ns=BASE_NS + n)


def feedback_on(trace_id: str, tenant_id: str = A, **fields: Any) -> NewFeedback:
    """Feedback of `tenant_id` on a trace."""
    return NewFeedback(tenant_id, "p1", "u-1", trace_id, **fields)


# --- the window ----------------------------------------------------------------------------


def test_buckets_are_aligned_to_the_epoch() -> None:
    assert bucket_count(M0, M0 + MINUTE_NS, MINUTE_NS) == 1
    assert bucket_count(M0, M0 + MINUTE_NS + 1, MINUTE_NS) == 2
    assert bucket_count(BASE_NS, BASE_NS + MINUTE_NS, MINUTE_NS) == 2  # 20 s past the minute
    assert bucket_count(M0 + 1, M0 + 2, MINUTE_NS) == 1
    assert bucket_count(0, 86_400 * SECOND_NS, 3600 * SECOND_NS) == 24


def test_the_default_window_is_the_last_day_in_at_most_500_buckets() -> None:
    now = BASE_NS + 123
    window = metrics_window(None, None, None, now)
    assert (window.since_ns, window.until_ns) == (now - 86_400 * SECOND_NS, now)
    assert window.bucket_s == 300  # 289 buckets; 120 s would make 721
    assert window.buckets == 289
    assert metrics_window(M0, None, None, M0 + HOUR_NS).bucket_s == 10  # 360 buckets
    assert metrics_window(None, M0, None, 0).since_ns == M0 - 86_400 * SECOND_NS
    assert metrics_window(None, 5, None, 0).since_ns == 0  # not before the epoch


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (1, 1),
        (500, 1),
        (501, 5),
        (2 * 3600, 15),
        (7 * 86_400, 1800),
        (30 * 86_400, 7200),
        (200 * 86_400, 43_200),
        (300 * 86_400, 86_400),
        (3 * 365 * 86_400, 3 * 86_400),
    ],
)
def test_default_buckets(seconds: int, expected: int) -> None:
    found = default_bucket_s(M0, M0 + seconds * SECOND_NS)
    assert found == expected
    assert bucket_count(M0, M0 + seconds * SECOND_NS, found * SECOND_NS) <= 500


def test_the_default_bucket_of_the_widest_range_stays_within_500() -> None:
    found = default_bucket_s(0, 2**63 - 1)
    assert found % 86_400 == 0
    assert bucket_count(0, 2**63 - 1, found * SECOND_NS) <= 500
    assert metrics_window(0, 2**63 - 1, None, 0).buckets <= 500


def test_an_explicit_bucket_may_make_up_to_10000_buckets() -> None:
    day = 86_400 * SECOND_NS
    assert metrics_window(M0, M0 + day, 60, 0).buckets == 1440
    assert metrics_window(M0, M0 + 10_000 * SECOND_NS, 1, 0).buckets == 10_000
    with pytest.raises(InvalidRequestError, match="10001 buckets") as caught:
        metrics_window(M0, M0 + 10_001 * SECOND_NS, 1, 0)
    assert caught.value.param == "bucket"
    with pytest.raises(InvalidRequestError) as caught:
        metrics_window(BASE_NS, BASE_NS + day, 8, 0)  # 10801 buckets
    assert caught.value.param == "bucket"


@pytest.mark.parametrize(
    ("since", "until", "now", "param"),
    [
        (M0, M0, 0, "until"),
        (M0 + 1, M0, 0, "until"),
        (M0, None, M0, "since"),  # since is now or later
        (None, 0, 0, "until"),
    ],
)
def test_an_empty_range_is_refused_naming_the_parameter(
    since: int | None, until: int | None, now: int, param: str
) -> None:
    with pytest.raises(InvalidRequestError, match="until must be later than since") as caught:
        metrics_window(since, until, None, now)
    assert caught.value.param == param
    assert caught.value.status == 400


@pytest.mark.parametrize("bucket", [0, -5, 3660 * 86_400 + 1])
def test_a_bucket_out_of_range_is_refused(bucket: int) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        metrics_window(M0, M0 + HOUR_NS, bucket, 0)
    assert caught.value.param == "bucket"


def test_nearest_rank() -> None:
    values = list(range(20, 0, -1))  # 1..20, unordered
    assert [nearest_rank(values, p) for p in (50, 95, 99)] == [10, 19, 20]
    assert [nearest_rank([7], p) for p in (50, 95, 99)] == [7, 7, 7]
    assert [nearest_rank([3, 1], p) for p in (50, 95, 99)] == [1, 3, 3]
    assert [nearest_rank(list(range(1, 101)), p) for p in (50, 95, 99)] == [50, 95, 99]
    assert [nearest_rank(list(range(1, 102)), p) for p in (50, 95, 99)] == [51, 96, 100]


# --- exact figures -------------------------------------------------------------------------


def _hand_made() -> list[Span]:
    found = []
    for i in range(1, 21):  # twenty calls of m-a in minute 0, durations 1..20 ms shuffled
        found.append(
            span(
                i,
                M0 + i * SECOND_NS,
                ((i * 7) % 20 + 1) * 1000,
                request_model="alias-a",
                response_model="m-a",
                operation="chat",
                status="error" if i in (3, 7, 11) else "ok",
                input_tokens=i,
                output_tokens=2 * i,
                cost_micros=5 * i,
                cache="hit" if i <= 4 else "miss" if i <= 6 else None,
            )
        )
    found += [
        # m-b in minute 0, by response model once and by request model twice
        span(21, M0 + 30 * SECOND_NS, 100_000, request_model="alias-b", response_model="m-b"),
        span(22, M0 + 31 * SECOND_NS, 300_000, request_model="m-b", status="error"),
        span(23, M0 + 32 * SECOND_NS, 200_000, request_model="m-b", input_tokens=4),
        # two tool calls without a model, one failed
        span(24, M0 + 40 * SECOND_NS, 5_000, operation="execute_tool"),
        span(
            25,
            M0 + 41 * SECOND_NS,
            7_000,
            operation="execute_tool",
            tool_name="lookup",
            status="error",
        ),
        # minute 1: one call of m-a, answered from the cache
        span(26, M0 + 61 * SECOND_NS, 42_000, response_model="m-a", cost_micros=10, cache="hit"),
        # outside the window, and another tenant's call inside it
        span(27, M0 - 1, 1_000, response_model="m-a"),
        span(28, M0 + 2 * MINUTE_NS, 1_000, response_model="m-a"),
        span(29, M0 + 5 * SECOND_NS, 9_000_000, response_model="m-a", tenant_id=B),
    ]
    return found


EMPTY_FEEDBACK = {
    "feedback_count": 0,
    "feedback_score_mean": None,
    "thumbs_up": 0,
    "thumbs_down": 0,
}


async def test_exact_figures_per_bucket_and_model(store: AsyncEngine) -> None:
    await record(store, _hand_made())
    await give(
        store,
        [
            feedback_on(f"{5:032x}", span_id=f"{5:016x}", thumbs="up"),  # counts as 1
            feedback_on(f"{6:032x}", score=0.5),  # the trace's root: span 6
            feedback_on(f"{26:032x}", thumbs="down", score=0.25),  # the score wins
            feedback_on(f"{29:032x}", thumbs="up"),  # A's feedback; trace 29 is B's
        ],
    )
    rows = await MetricsQueries(store).metrics(A, SpanFilter(), WINDOW, "model")
    assert rows == [
        {
            "start": "2023-11-14T22:13:00Z",
            "start_ns": M0,
            "group": None,
            "requests": 2,
            "errors": 1,
            "error_rate": 0.5,
            "latency_p50_ms": 5.0,
            "latency_p95_ms": 7.0,
            "latency_p99_ms": 7.0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_micros": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "cache_hit_rate": None,
            "tool_calls": 2,
            "tool_errors": 1,
            "tool_success_rate": 0.5,
            **EMPTY_FEEDBACK,
        },
        {
            "start": "2023-11-14T22:13:00Z",
            "start_ns": M0,
            "group": "m-a",
            "requests": 20,
            "errors": 3,
            "error_rate": 0.15,
            "latency_p50_ms": 10.0,
            "latency_p95_ms": 19.0,
            "latency_p99_ms": 20.0,
            "input_tokens": 210,
            "output_tokens": 420,
            "cost_micros": 1050,
            "cache_hits": 4,
            "cache_misses": 2,
            "cache_hit_rate": 4 / 6,
            "tool_calls": 0,
            "tool_errors": 0,
            "tool_success_rate": None,
            "feedback_count": 2,
            "feedback_score_mean": 0.75,
            "thumbs_up": 1,
            "thumbs_down": 0,
        },
        {
            "start": "2023-11-14T22:13:00Z",
            "start_ns": M0,
            "group": "m-b",
            "requests": 3,
            "errors": 1,
            "error_rate": 1 / 3,
            "latency_p50_ms": 200.0,
            "latency_p95_ms": 300.0,
            "latency_p99_ms": 300.0,
            "input_tokens": 4,
            "output_tokens": 0,
            "cost_micros": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "cache_hit_rate": None,
            "tool_calls": 0,
            "tool_errors": 0,
            "tool_success_rate": None,
            **EMPTY_FEEDBACK,
        },
        {
            "start": "2023-11-14T22:14:00Z",
            "start_ns": M0 + MINUTE_NS,
            "group": "m-a",
            "requests": 1,
            "errors": 0,
            "error_rate": 0.0,
            "latency_p50_ms": 42.0,
            "latency_p95_ms": 42.0,
            "latency_p99_ms": 42.0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_micros": 10,
            "cache_hits": 1,
            "cache_misses": 0,
            "cache_hit_rate": 1.0,
            "tool_calls": 0,
            "tool_errors": 0,
            "tool_success_rate": None,
            "feedback_count": 1,
            "feedback_score_mean": 0.25,
            "thumbs_up": 0,
            "thumbs_down": 1,
        },
    ]


async def test_one_group_per_bucket_without_group_by(store: AsyncEngine) -> None:
    await record(store, _hand_made())
    rows = await MetricsQueries(store).metrics(A, SpanFilter(), WINDOW)
    assert [(r["start_ns"], r["group"], r["requests"], r["errors"]) for r in rows] == [
        (M0, None, 25, 5),
        (M0 + MINUTE_NS, None, 1, 0),
    ]
    first = rows[0]
    # 25 durations: 1..20 ms, 100, 300, 200, 5, 7 ms; ranks 13, 24, 25
    assert (first["latency_p50_ms"], first["latency_p95_ms"], first["latency_p99_ms"]) == (
        11.0,
        200.0,
        300.0,
    )
    assert (first["tool_calls"], first["cache_hit_rate"]) == (2, 4 / 6)
    hourly = MetricsWindow(M0, M0 + 2 * MINUTE_NS, 3600)  # one bucket: from 22:00
    (both,) = await MetricsQueries(store).metrics(A, SpanFilter(), hourly)
    assert (both["start"], both["start_ns"]) == ("2023-11-14T22:00:00Z", M0 - 13 * MINUTE_NS)
    assert (both["requests"], both["latency_p50_ms"]) == (26, 11.0)
    assert (both["cache_hits"], both["cache_misses"], both["cost_micros"]) == (5, 2, 1060)


async def test_filters_apply_and_the_window_bounds_every_query(store: AsyncEngine) -> None:
    await record(store, _hand_made())
    queries = MetricsQueries(store)
    errors = await queries.metrics(A, SpanFilter(status="error"), WINDOW, "model")
    assert [(r["group"], r["requests"], r["errors"]) for r in errors] == [
        (None, 1, 1),
        ("m-a", 3, 3),
        ("m-b", 1, 1),
    ]
    by_model = await queries.metrics(A, SpanFilter(model="alias-a"), WINDOW, "model")
    assert [(r["group"], r["requests"]) for r in by_model] == [("m-a", 20)]
    # A filter's own since/until never widen the window.
    wide = SpanFilter(since_ns=0, until_ns=2**63 - 1)
    assert sum(r["requests"] for r in await queries.metrics(A, wide, WINDOW)) == 26
    # since inclusive, until exclusive: spans 27 (M0 - 1) and 28 (M0 + 2 min) are outside.
    moved = MetricsWindow(M0 - 1, M0 + 2 * MINUTE_NS + 1, 60)
    rows = await queries.metrics(A, SpanFilter(), moved)
    assert [(r["start_ns"], r["requests"]) for r in rows] == [
        (M0 - MINUTE_NS, 1),
        (M0, 25),
        (M0 + MINUTE_NS, 1),
        (M0 + 2 * MINUTE_NS, 1),
    ]


async def test_sums_past_the_largest_bigint_stay_exact(store: AsyncEngine) -> None:
    most = 2**63 - 1  # what a column holds; OTLP spans may say so
    await record(
        store,
        [
            span(1, M0, 1000, input_tokens=most, output_tokens=2**62, cost_micros=most),
            span(2, M0 + 1, 1000, input_tokens=most, output_tokens=2**62, cost_micros=1),
            span(3, M0 + 2, 1000, input_tokens=5, cost_micros=2**32 - 1),
        ],
    )
    (row,) = await MetricsQueries(store).metrics(A, SpanFilter(), WINDOW)
    assert row["input_tokens"] == 2 * most + 5
    assert row["output_tokens"] == 2**63
    assert row["cost_micros"] == most + 2**32


async def test_another_tenant_sees_only_its_own_spans(store: AsyncEngine) -> None:
    await record(store, _hand_made())
    rows = await MetricsQueries(store).metrics(B, SpanFilter(), WINDOW, "model")
    assert [(r["group"], r["requests"], r["latency_p50_ms"]) for r in rows] == [("m-a", 1, 9000.0)]
    assert await MetricsQueries(store).metrics("tenant-c", SpanFilter(), WINDOW) == []


# --- feedback anchoring --------------------------------------------------------------------

TR, TO, TP, TT, TX = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)


def _anchored() -> list[Span]:
    return [
        # TR: the root starts in minute 1, its child (clock skew) in minute 0
        span(1, M0 + 70 * SECOND_NS, 1000, trace_id=TR, request_model="root-model"),
        span(
            2,
            M0 + 10 * SECOND_NS,
            1000,
            trace_id=TR,
            parent_span_id=f"{1:016x}",
            request_model="child-model",
        ),
        # TO: two spans whose parents never arrived: the earlier is the root
        span(
            3,
            M0 + 30 * SECOND_NS,
            1000,
            trace_id=TO,
            parent_span_id="f" * 16,
            request_model="late-orphan",
        ),
        span(
            4,
            M0 + 20 * SECOND_NS,
            1000,
            trace_id=TO,
            parent_span_id="e" * 16,
            request_model="early-orphan",
        ),
        # TP: a root in minute 0 and a child in minute 1
        span(5, M0 + 5 * SECOND_NS, 1000, trace_id=TP, request_model="root-model"),
        span(
            6,
            M0 + 65 * SECOND_NS,
            1000,
            trace_id=TP,
            parent_span_id=f"{5:016x}",
            request_model="child-model",
        ),
        # TT: two roots starting together: the smaller span id wins
        span(0x0B2, M0 + 50 * SECOND_NS, 1000, trace_id=TT, request_model="second"),
        span(0x0B1, M0 + 50 * SECOND_NS, 1000, trace_id=TT, request_model="first"),
        # tenant B has a span in trace TR too
        span(7, M0 + 15 * SECOND_NS, 1000, trace_id=TR, tenant_id=B, request_model="b-model"),
    ]


def _feedback_by_group(rows: list[dict[str, Any]]) -> dict[tuple[int, str | None], tuple[Any, ...]]:
    return {
        (r["start_ns"] - M0, r["group"]): (
            r["feedback_count"],
            r["feedback_score_mean"],
            r["thumbs_up"],
            r["thumbs_down"],
        )
        for r in rows
        if r["feedback_count"]
    }


async def test_feedback_counts_where_its_span_or_its_traces_root_is(store: AsyncEngine) -> None:
    await record(store, _anchored())
    await give(
        store,
        [
            feedback_on(TR, thumbs="up"),  # root: span 1, minute 1, root-model
            feedback_on(TO, score=0.5),  # root: span 4 (the earlier orphan)
            feedback_on(TP, thumbs="down"),  # root: span 5, minute 0, root-model
            feedback_on(TP, span_id=f"{6:016x}", score=0.75),  # span 6: minute 1, child-model
            feedback_on(TP, span_id="d" * 16, score=1.0),  # no such span: not counted
            feedback_on(TT, score=0.25, thumbs="up"),  # root: span 0xb1, "first"
            feedback_on(TX, thumbs="up"),  # no span yet: not counted
            feedback_on(TP, score=0.0, name="helpfulness"),  # root: span 5
            feedback_on(TR, tenant_id=B, score=1.0),  # B's: B's span 7 only
            feedback_on(TP, tenant_id=B, score=1.0),  # B's: B has no span of TP
        ],
    )
    queries = MetricsQueries(store)
    rows = await queries.metrics(A, SpanFilter(), WINDOW, "model")
    assert _feedback_by_group(rows) == {
        (MINUTE_NS, "root-model"): (1, 1.0, 1, 0),
        (0, "early-orphan"): (1, 0.5, 0, 0),
        (0, "root-model"): (2, 0.0, 0, 1),
        (MINUTE_NS, "child-model"): (1, 0.75, 0, 0),
        (0, "first"): (1, 0.25, 1, 0),
    }
    named = await queries.metrics(A, SpanFilter(), WINDOW, "model", feedback_name="helpfulness")
    assert _feedback_by_group(named) == {(0, "root-model"): (1, 0.0, 0, 0)}
    # A filter that leaves out the anchor span leaves out its feedback.
    child = await queries.metrics(A, SpanFilter(model="child-model"), WINDOW, "model")
    assert _feedback_by_group(child) == {(MINUTE_NS, "child-model"): (1, 0.75, 0, 0)}
    theirs = await queries.metrics(B, SpanFilter(), WINDOW, "model")
    assert _feedback_by_group(theirs) == {(0, "b-model"): (1, 1.0, 0, 0)}


async def test_feedback_waits_for_its_span(store: AsyncEngine) -> None:
    await give(
        store, [feedback_on(TX, thumbs="up"), feedback_on(TP, span_id=f"{6:016x}", thumbs="down")]
    )
    queries = MetricsQueries(store)
    assert await queries.metrics(A, SpanFilter(), WINDOW) == []
    await record(store, [span(8, M0 + 3 * SECOND_NS, 1000, trace_id=TX)])
    await record(store, _anchored()[4:6])
    rows = await queries.metrics(A, SpanFilter(), WINDOW)
    assert _feedback_by_group(rows) == {
        (0, None): (1, 1.0, 1, 0),
        (MINUTE_NS, None): (1, 0.0, 0, 1),
    }


# --- agreement with a reference computed in Python -----------------------------------------

MODELS = (None, "m-a", "m-b", "m-c")
FILTERS: list[tuple[SpanFilter, Callable[[Span], bool]]] = [
    (SpanFilter(), lambda s: True),
    (SpanFilter(status="error"), lambda s: s.status == "error"),
    (SpanFilter(project_id="p2"), lambda s: s.project_id == "p2"),
    (SpanFilter(model="m-a"), lambda s: "m-a" in (s.request_model, s.response_model)),
    (SpanFilter(tag="beta"), lambda s: ",beta," in (s.tags or "")),
    (SpanFilter(operation="execute_tool"), lambda s: s.operation == "execute_tool"),
]
WINDOWS = [
    MetricsWindow(M0, M0 + 2 * HOUR_NS, 300),
    MetricsWindow(M0 + 17 * SECOND_NS + 3, M0 + 95 * MINUTE_NS, 7),
    MetricsWindow(M0 - HOUR_NS, M0 + 3 * HOUR_NS, 3600),
]


def _random_spans(rng: random.Random) -> list[Span]:
    found: list[Span] = []
    n = 0
    for tenant, traces in ((A, 150), (B, 20)):
        for t in range(traces):
            trace_id = f"{t:032x}"  # the same trace ids in both tenants
            ids: list[str] = []
            for _ in range(rng.randint(1, 4)):
                n += 1
                parent = rng.choice([None, *ids, "f" * 16]) if ids else rng.choice([None, "f" * 16])
                request = rng.choice(MODELS)
                found.append(
                    span(
                        n,
                        M0 + rng.randrange(-10 * MINUTE_NS, 130 * MINUTE_NS),
                        rng.choice([rng.randrange(0, 5_000_000), 1000, 2000]),
                        tenant_id=tenant,
                        trace_id=trace_id,
                        parent_span_id=parent,
                        project_id=rng.choice(["p1", "p2"]),
                        status=rng.choice(["ok", "ok", "error", "unset"]),
                        operation=rng.choice([None, "chat", "embeddings", "execute_tool"]),
                        provider=rng.choice([None, "openai", "anthropic"]),
                        request_model=request,
                        response_model=rng.choice([None, request, "m-a-2024"]),
                        deployment=rng.choice([None, "d1", "d2"]),
                        user_id=rng.choice([None, "h:1", "h:2"]),
                        prompt_name=rng.choice([None, "greet", "sum"]),
                        prompt_version=rng.choice([None, 1, 2]),
                        tool_name=rng.choice([None, "lookup", "search"]),
                        tags=rng.choice([None, ",alpha,", ",beta,", ",alpha,beta,"]),
                        input_tokens=rng.choice([None, rng.randrange(0, 5000)]),
                        output_tokens=rng.choice([None, rng.randrange(0, 5000)]),
                        cost_micros=rng.choice([None, rng.randrange(0, 100_000)]),
                        cache=rng.choice([None, None, "hit", "miss"]),
                    )
                )
                ids.append(f"{n:016x}")
    return found


def _random_feedback(rng: random.Random, found: list[Span]) -> list[NewFeedback]:
    given = []
    for _ in range(250):
        tenant = rng.choice([A, A, A, B])
        target = rng.choice(found)
        span_id = rng.choice([None, target.span_id, "d" * 16])
        trace_id = rng.choice([target.trace_id, target.trace_id, "e" * 32])
        thumbs = rng.choice([None, "up", "down"])
        score = rng.choice([None, 0.0, 0.25, 0.5, 1.0, 3.0]) if thumbs else rng.choice([0.5, 2.0])
        name = rng.choice(["user", "helpfulness"])
        given.append(
            feedback_on(trace_id, tenant, span_id=span_id, thumbs=thumbs, score=score, name=name)
        )
    return given


def _group(span: Span, group_by: str | None) -> str | None:
    if group_by is None:
        return None
    if group_by == "prompt_version":
        if span.prompt_name is None and span.prompt_version is None:
            return None
        if span.prompt_version is None:
            return span.prompt_name
        return f"{span.prompt_name or ''}@{span.prompt_version}"
    column = {"model": None, "user": "user_id", "project": "project_id", "tool": "tool_name"}
    if group_by == "model":
        return span.response_model if span.response_model is not None else span.request_model
    value = getattr(span, column.get(group_by) or group_by)
    return None if value is None else str(value)


def _anchor(found: list[Span], given: NewFeedback) -> Span | None:
    trace = [s for s in found if (s.tenant_id, s.trace_id) == (given.tenant_id, given.trace_id)]
    if given.span_id is not None:
        return next((s for s in trace if s.span_id == given.span_id), None)
    ids = {s.span_id for s in trace}
    roots = [s for s in trace if s.parent_span_id is None or s.parent_span_id not in ids]
    return min(roots, key=lambda s: (s.start_ns, s.span_id), default=None)


def reference(
    found: list[Span],
    given: list[NewFeedback],
    window: MetricsWindow,
    group_by: str | None,
    keep: Callable[[Span], bool],
    feedback_name: str | None = None,
) -> list[dict[str, Any]]:
    """The metrics of tenant A computed in Python from the same rows."""
    chosen = [
        s
        for s in found
        if s.tenant_id == A and window.since_ns <= s.start_ns < window.until_ns and keep(s)
    ]
    size = window.bucket_ns

    def key(s: Span) -> tuple[int, str | None]:
        return s.start_ns - s.start_ns % size, _group(s, group_by)

    cells: dict[tuple[int, str | None], list[Span]] = {}
    for s in chosen:
        cells.setdefault(key(s), []).append(s)
    scores: dict[tuple[int, str | None], list[tuple[float, str | None]]] = {}
    chosen_ids = {id(s) for s in chosen}
    for one in given:
        if one.tenant_id != A or (feedback_name and one.name != feedback_name):
            continue
        anchor = _anchor(found, one)
        if anchor is not None and id(anchor) in chosen_ids:
            value = one.score if one.score is not None else float(one.thumbs == "up")
            scores.setdefault(key(anchor), []).append((value, one.thumbs))
    rows = []
    for (start, group), members in cells.items():
        durations = [(s.end_ns - s.start_ns) // 1000 for s in members]
        errors = sum(s.status == "error" for s in members)
        hits = sum(s.cache == "hit" for s in members)
        misses = sum(s.cache == "miss" for s in members)
        tools = [s for s in members if s.operation == "execute_tool"]
        tool_errors = sum(s.status == "error" for s in tools)
        marks = scores.get((start, group), [])
        rows.append(
            {
                "start_ns": start,
                "group": group,
                "requests": len(members),
                "errors": errors,
                "error_rate": errors / len(members),
                **{f"latency_p{p}_ms": nearest_rank(durations, p) / 1000 for p in (50, 95, 99)},
                "input_tokens": sum(s.input_tokens or 0 for s in members),
                "output_tokens": sum(s.output_tokens or 0 for s in members),
                "cost_micros": sum(s.cost_micros or 0 for s in members),
                "cache_hits": hits,
                "cache_misses": misses,
                "cache_hit_rate": hits / (hits + misses) if hits + misses else None,
                "tool_calls": len(tools),
                "tool_errors": tool_errors,
                "tool_success_rate": (len(tools) - tool_errors) / len(tools) if tools else None,
                "feedback_count": len(marks),
                "feedback_score_mean": sum(v for v, _ in marks) / len(marks) if marks else None,
                "thumbs_up": sum(t == "up" for _, t in marks),
                "thumbs_down": sum(t == "down" for _, t in marks),
            }
        )
    return sorted(rows, key=lambda r: (r["start_ns"], r["group"] is not None, r["group"] or ""))


@pytest.mark.parametrize("group_by", [None, *GROUPS])
async def test_every_grouping_agrees_with_the_reference(
    store: AsyncEngine, group_by: str | None
) -> None:
    rng = random.Random(20261122)
    found = _random_spans(rng)
    given = _random_feedback(rng, found)
    await record(store, found)
    await give(store, given)
    queries = MetricsQueries(store)
    compared = 0
    for window in WINDOWS:
        for where, keep in FILTERS:
            rows = await queries.metrics(A, where, window, group_by)
            for row in rows:
                assert row.pop("start").startswith("2023-11-1")
            expected = reference(found, given, window, group_by, keep)
            assert rows == expected, (window, where)
            compared += len(rows)
    named = await queries.metrics(A, SpanFilter(), WINDOWS[0], group_by, "helpfulness")
    for row in named:
        row.pop("start")
    assert named == reference(found, given, WINDOWS[0], group_by, FILTERS[0][1], "helpfulness")
    assert compared > 200
    assert sum(r["feedback_count"] for r in named) > 10


# --- the index -----------------------------------------------------------------------------


async def _plan(store: AsyncEngine, query: Any) -> str:
    async with store.connect() as conn:
        sql = str(query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if store.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            return "\n".join(str(row[-1]) for row in rows)
        await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: force the choice
        rows = await conn.exec_driver_sql("EXPLAIN " + sql)
        return "\n".join(str(row[0]) for row in rows)


async def test_the_span_query_reads_the_tenant_start_index(store: AsyncEngine) -> None:
    await record(store, _hand_made())
    queries = MetricsQueries(store)
    for group_by in (None, "model", "prompt_version"):
        plan = await _plan(
            store, queries.span_query(A, SpanFilter(project_id="p1"), WINDOW, group_by)
        )
        assert "ix_spans_tenant_start" in plan, plan
        if store.dialect.name == "sqlite":
            assert "SCAN spans" not in plan, plan
    feedback_plan = await _plan(store, queries.feedback_query(A, SpanFilter(), WINDOW, "model"))
    assert "ix_spans_tenant_start" in feedback_plan or "ix_feedback_tenant_trace" in feedback_plan
    if store.dialect.name == "sqlite":
        assert "SCAN spans" not in feedback_plan, feedback_plan
        assert "SCAN feedback" not in feedback_plan, feedback_plan
        # The root of a trace is found by primary key, not by walking the tenant's spans.
        assert "SEARCH root USING INDEX sqlite_autoindex_spans_1 (tenant_id=? AND trace_id=?)" in (
            feedback_plan
        )
