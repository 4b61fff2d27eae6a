"""Reading traces back (SQLite, and PostgreSQL when configured): span filters, tenant
isolation, newest-first keyset pages, traces with totals, span trees, sessions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError, NotFoundError
from agentdeck.tracing.queries import SpanFilter, TraceQueries, encode_cursor
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from tests.unit.tracing.conftest import BASE_NS, MS_NS, SECOND_NS, make_span

A, B = "tenant-a", "tenant-b"
T1, T2, T3, T9 = "1" * 32, "2" * 32, "3" * 32, "9" * 32
# Tenant A: trace T1 (a root and two children), T2 and T3 (one span each).
R1, C1, C2 = "0000000000000a01", "0000000000000a02", "0000000000000a03"
R2, R3 = "0000000000000b01", "0000000000000c01"
# Tenant B: a span with the very ids of R1, and one more.
B1, B2 = R1, "0000000000000d01"
NEWEST_FIRST = [R3, R2, C2, C1, R1]


def _tenant_a() -> list[Span]:
    return [
        make_span(
            R1,
            trace_id=T1,
            start_ns=BASE_NS + SECOND_NS,
            duration_ms=50,
            name="chat gpt-4o",
            project_id="p1",
            status="ok",
            request_model="gpt-4o",
            response_model="gpt-4o-2024-08-06",
            input_tokens=10,
            output_tokens=5,
            cost_micros=100,
            session_id="s1",
            attributes={"agentdeck.tags": ["alpha", "beta"], "agentdeck.outcome": "ok"},
            tags=",alpha,beta,",
            input_text="What is the capital of France?",
        ),
        make_span(
            C1,
            trace_id=T1,
            parent_span_id=R1,
            start_ns=BASE_NS + SECOND_NS + 10 * MS_NS,
            duration_ms=5,
            name="execute_tool lookup",
            project_id="p1",
            status="error",
            tool_name="lookup",
            cost_micros=20,
            session_id="s1",
        ),
        make_span(
            C2,
            trace_id=T1,
            parent_span_id=R1,
            start_ns=BASE_NS + SECOND_NS + 20 * MS_NS,
            duration_ms=1,
            name="chat gpt-4o-mini",
            project_id="p1",
            request_model="gpt-4o-mini",
            session_id="s1",
            input_text="a discount of 100% off",
        ),
        make_span(
            R2,
            trace_id=T2,
            start_ns=BASE_NS + 3 * SECOND_NS,
            duration_ms=2000,
            name="chat claude-sonnet",
            project_id="p2",
            status="error",
            request_model="claude-sonnet",
            input_tokens=40,
            output_tokens=0,
            cost_micros=300,
            session_id="s1",
            attributes={"agentdeck.tags": ["beta"]},
            tags=",beta,",
            input_text="translate: bonjour",
        ),
        make_span(
            R3,
            trace_id=T3,
            start_ns=BASE_NS + 5 * SECOND_NS,
            duration_ms=800,
            name="chat fast",
            project_id="p1",
            status="ok",
            request_model="fast",
            response_model="gpt-4o",
            input_tokens=7,
            output_tokens=3,
            cost_micros=40,
            session_id="s2",
            output_text="Paris.",
        ),
    ]


def _tenant_b() -> list[Span]:
    return [
        make_span(
            B1,
            tenant_id=B,
            trace_id=T1,
            start_ns=BASE_NS + 2 * SECOND_NS,
            name="chat gpt-4o",
            project_id="p1",
            status="ok",
            request_model="gpt-4o",
            cost_micros=999,
            session_id="s1",
            attributes={"agentdeck.tags": ["alpha"]},
            tags=",alpha,",
            input_text="What is the capital of France?",
        ),
        make_span(
            B2,
            tenant_id=B,
            trace_id=T9,
            start_ns=BASE_NS + 9 * SECOND_NS,
            name="chat other",
            project_id="p1",
            status="error",
            cost_micros=1,
            session_id="s9",
        ),
    ]


async def _record(engine: AsyncEngine, found: list[Span]) -> None:
    recorder = SpanRecorder(engine, interval_s=0.01)
    await recorder.start()
    assert recorder.record_all(found) is True
    await recorder.stop()
    assert recorder.writer.written == len(found)


@pytest.fixture
async def queries(store: AsyncEngine) -> TraceQueries:
    """Queries over the spans of tenants A and B."""
    await _record(store, _tenant_a() + _tenant_b())
    return TraceQueries(store)


async def _ids(queries: TraceQueries, where: SpanFilter, tenant_id: str = A) -> list[str]:
    page, after = await queries.spans(tenant_id, where)
    assert after is None
    return [span["span_id"] for span in page]


# --- spans ---------------------------------------------------------------------------------


async def test_spans_are_newest_first(queries: TraceQueries) -> None:
    page, after = await queries.spans(A, SpanFilter())
    assert after is None
    assert [span["span_id"] for span in page] == NEWEST_FIRST
    starts = [span["start_ns"] for span in page]
    assert starts == sorted(starts, reverse=True)


async def test_spans_json_shape(queries: TraceQueries) -> None:
    page, _ = await queries.spans(A, SpanFilter(trace_id=T1, status="ok"))
    assert len(page) == 1
    root = page[0]
    assert root["span_id"] == R1
    assert root["tenant_id"] == A
    assert root["duration_ms"] == 50.0
    assert "duration_us" not in root
    assert root["start_time"] == "2023-11-14T22:13:21Z"
    assert root["end_time"] == "2023-11-14T22:13:21.050000Z"
    assert root["attributes"] == {"agentdeck.tags": ["alpha", "beta"], "agentdeck.outcome": "ok"}
    assert root["events"] == []
    assert (root["input_tokens"], root["output_tokens"], root["cost_micros"]) == (10, 5, 100)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # model: the request or the response model, exactly
        (SpanFilter(model="gpt-4o"), [R3, R1]),
        (SpanFilter(model="gpt-4o-mini"), [C2]),
        (SpanFilter(model="gpt-4o-2024-08-06"), [R1]),
        (SpanFilter(model="gpt"), []),
        # status
        (SpanFilter(status="error"), [R2, C1]),
        (SpanFilter(status="ok"), [R3, R1]),
        (SpanFilter(status="unset"), [C2]),
        # session
        (SpanFilter(session_id="s1"), [R2, C2, C1, R1]),
        (SpanFilter(session_id="s2"), [R3]),
        (SpanFilter(session_id="s9"), []),  # tenant B's session
        # cost (micro-dollars), bounds inclusive; a span without a cost matches no bound
        (SpanFilter(min_cost_micros=40), [R3, R2, R1]),
        (SpanFilter(max_cost_micros=40), [R3, C1]),
        (SpanFilter(min_cost_micros=40, max_cost_micros=100), [R3, R1]),
        (SpanFilter(min_cost_micros=301), []),
        # duration (milliseconds), bounds inclusive
        (SpanFilter(min_duration_ms=50), [R3, R2, R1]),
        (SpanFilter(max_duration_ms=5), [C2, C1]),
        (SpanFilter(min_duration_ms=1.5, max_duration_ms=50), [C1, R1]),
        (SpanFilter(min_duration_ms=0.5, max_duration_ms=1), [C2]),
        (SpanFilter(min_duration_ms=2000.001), []),
        # start time (ns): since inclusive, until exclusive
        (SpanFilter(since_ns=BASE_NS + SECOND_NS + 10 * MS_NS), [R3, R2, C2, C1]),
        (SpanFilter(until_ns=BASE_NS + 3 * SECOND_NS), [C2, C1, R1]),
        (
            SpanFilter(since_ns=BASE_NS + SECOND_NS, until_ns=BASE_NS + 3 * SECOND_NS + 1),
            [R2, C2, C1, R1],
        ),
        (SpanFilter(since_ns=BASE_NS + 5 * SECOND_NS + 1), []),
        # text: in the name, the captured input or the captured output
        (SpanFilter(text="capital"), [R1]),
        (SpanFilter(text="claude"), [R2]),
        (SpanFilter(text="lookup"), [C1]),
        (SpanFilter(text="bonjour"), [R2]),
        (SpanFilter(text="Paris"), [R3]),
        (SpanFilter(text="chat "), [R3, R2, C2, R1]),
        (SpanFilter(text="%"), [C2]),  # LIKE wildcards are literal
        (SpanFilter(text="_"), [C1]),
        (SpanFilter(text="nowhere"), []),
        # tag: one of the span's tags (the gateway's agentdeck.tags)
        (SpanFilter(tag="beta"), [R2, R1]),
        (SpanFilter(tag="alpha"), [R1]),
        (SpanFilter(tag="gamma"), []),
        (SpanFilter(tag="alp"), []),  # a whole tag, not a part of one
        # project
        (SpanFilter(project_id="p1"), [R3, C2, C1, R1]),
        (SpanFilter(project_id="p2"), [R2]),
        # others
        (SpanFilter(tool="lookup"), [C1]),
        (SpanFilter(trace_id=T1), [C2, C1, R1]),
        # several at once: all must hold
        (SpanFilter(model="gpt-4o", status="ok", project_id="p1"), [R3, R1]),
        (SpanFilter(session_id="s1", min_cost_micros=100), [R2, R1]),
        (SpanFilter(tag="beta", project_id="p2", status="error"), [R2]),
    ],
)
async def test_span_filters(queries: TraceQueries, where: SpanFilter, expected: list[str]) -> None:
    assert await _ids(queries, where) == expected


@pytest.mark.parametrize("tag", ["ok", "agentdeck.outcome", "agentdeck.tags"])
async def test_a_tag_matches_only_the_tags_attribute(queries: TraceQueries, tag: str) -> None:
    # R1 has no such tag, but has "agentdeck.outcome": "ok" among its attributes.
    assert await _ids(queries, SpanFilter(tag=tag)) == []


async def test_a_tenant_never_sees_another_tenants_spans(queries: TraceQueries) -> None:
    assert await _ids(queries, SpanFilter(), B) == [B2, B1]
    b1 = (await queries.spans(B, SpanFilter(trace_id=T1)))[0]
    assert [(span["span_id"], span["cost_micros"]) for span in b1] == [(B1, 999)]

    assert await _ids(queries, SpanFilter()) == NEWEST_FIRST
    assert await _ids(queries, SpanFilter(session_id="s9")) == []
    assert await _ids(queries, SpanFilter(min_cost_micros=999)) == []
    # The same filters in B see only B's spans.
    assert await _ids(queries, SpanFilter(model="gpt-4o"), B) == [B1]
    assert await _ids(queries, SpanFilter(tag="beta"), B) == []
    assert await _ids(queries, SpanFilter(session_id="s1"), B) == [B1]
    assert await _ids(queries, SpanFilter(), "tenant-c") == []


# --- pages ---------------------------------------------------------------------------------


async def test_cursor_pages_return_every_span_once(store: AsyncEngine) -> None:
    # Seven spans, three of them starting at the same nanosecond (ordered by trace, span id).
    found = [
        make_span(f"{n:016x}", tenant_id="pager", trace_id=f"{n % 2:032x}", start_ns=start)
        for n, start in enumerate([BASE_NS + 1, BASE_NS + 5, BASE_NS + 5, BASE_NS + 5, 2, 7, 9])
    ]
    await _record(store, found)
    queries = TraceQueries(store)
    everything, _ = await queries.spans("pager", SpanFilter(), limit=100)
    order = [span["span_id"] for span in everything]
    assert len(order) == 7
    assert order[:3] == [f"{3:016x}", f"{1:016x}", f"{2:016x}"]  # trace 1 > trace 0, then span

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page, cursor = await queries.spans("pager", SpanFilter(), limit=3, cursor=cursor)
        pages.append([span["span_id"] for span in page])
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [span_id for page in pages for span_id in page] == order
    assert sorted(order) == sorted(span.span_id for span in found)


async def test_the_last_full_page_has_no_next_cursor(queries: TraceQueries) -> None:
    first, after = await queries.spans(A, SpanFilter(), limit=3)
    assert [span["span_id"] for span in first] == [R3, R2, C2]
    assert after == encode_cursor(first[-1])
    second, end = await queries.spans(A, SpanFilter(), limit=2, cursor=after)
    assert [span["span_id"] for span in second] == [C1, R1]
    assert end is None  # exactly two were left: no empty page after them


async def test_a_cursor_keeps_its_filter(queries: TraceQueries) -> None:
    first, after = await queries.spans(A, SpanFilter(session_id="s1"), limit=1)
    assert [span["span_id"] for span in first] == [R2]
    rest, end = await queries.spans(A, SpanFilter(session_id="s1"), limit=10, cursor=after)
    assert [span["span_id"] for span in rest] == [C2, C1, R1]
    assert end is None


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",
        "not-a-cursor",
        "bm90LWEtY3Vyc29y",  # "not-a-cursor"
        "YTpiOmM",  # "a:b:c": the start is not a number
        "MTox",  # "1:1": two parts
        "MToyOjM6NA",  # "1:2:3:4": four parts
        "__79",  # not UTF-8
        "",
    ],
)
async def test_a_bad_cursor_is_an_invalid_request_naming_it(
    queries: TraceQueries, cursor: str
) -> None:
    with pytest.raises(InvalidRequestError, match="cursor") as caught:
        await queries.spans(A, SpanFilter(), cursor=cursor)
    assert caught.value.param == "cursor"
    assert caught.value.status == 400


# --- traces --------------------------------------------------------------------------------


async def test_traces_are_root_spans_with_totals(queries: TraceQueries) -> None:
    found, after = await queries.traces(A, SpanFilter())
    assert after is None
    assert [trace["trace_id"] for trace in found] == [T3, T2, T1]
    assert [trace["root"]["span_id"] for trace in found] == [R3, R2, R1]
    assert all(trace["root"]["parent_span_id"] is None for trace in found)
    totals = [
        {key: trace[key] for key in ("span_count", "cost_micros", "errors")} for trace in found
    ]
    assert totals == [
        {"span_count": 1, "cost_micros": 40, "errors": 0},
        {"span_count": 1, "cost_micros": 300, "errors": 1},
        {"span_count": 3, "cost_micros": 120, "errors": 1},  # 100 + 20 + none
    ]
    t1 = found[2]
    assert (t1["input_tokens"], t1["output_tokens"]) == (10, 5)


async def test_traces_filter_roots_and_count_every_span(queries: TraceQueries) -> None:
    found, _ = await queries.traces(A, SpanFilter(project_id="p1"))
    assert [trace["trace_id"] for trace in found] == [T3, T1]
    assert found[1]["span_count"] == 3
    # The filter selects roots: T1's only error is a child, so T1 is not an erroring root.
    errors, _ = await queries.traces(A, SpanFilter(status="error"))
    assert [trace["trace_id"] for trace in errors] == [T2]
    assert await queries.traces(A, SpanFilter(tool="lookup")) == ([], None)


async def test_traces_page_with_a_cursor(queries: TraceQueries) -> None:
    first, after = await queries.traces(A, SpanFilter(), limit=2)
    assert [trace["trace_id"] for trace in first] == [T3, T2]
    assert after is not None
    rest, end = await queries.traces(A, SpanFilter(), limit=2, cursor=after)
    assert [trace["trace_id"] for trace in rest] == [T1]
    assert rest[0]["span_count"] == 3
    assert end is None


async def test_traces_are_bound_to_the_tenant(queries: TraceQueries) -> None:
    found, _ = await queries.traces(B, SpanFilter())
    assert [(trace["trace_id"], trace["span_count"]) for trace in found] == [(T9, 1), (T1, 1)]
    assert [(trace["cost_micros"], trace["errors"]) for trace in found] == [(1, 1), (999, 0)]


# --- one trace -----------------------------------------------------------------------------


async def test_trace_nests_children_under_their_parent(queries: TraceQueries) -> None:
    tree = await queries.trace(A, T1)
    assert tree["trace_id"] == T1
    assert tree["span_count"] == 3
    assert tree["cost_micros"] == 120
    assert [span["span_id"] for span in tree["spans"]] == [R1]
    root = tree["spans"][0]
    assert [child["span_id"] for child in root["children"]] == [C1, C2]  # in start order
    assert all(child["children"] == [] for child in root["children"])
    assert root["children"][0]["status"] == "error"


async def test_trace_of_a_single_span(queries: TraceQueries) -> None:
    tree = await queries.trace(A, T2)
    assert tree["span_count"] == 1
    assert tree["cost_micros"] == 300
    assert [(span["span_id"], span["children"]) for span in tree["spans"]] == [(R2, [])]


async def test_a_span_whose_parent_never_arrived_is_shown_at_the_top(store: AsyncEngine) -> None:
    top, orphan, grandchild, sibling = (
        "00000000000000f1",
        "00000000000000f2",
        "00000000000000f3",
        "00000000000000f4",
    )
    await _record(
        store,
        [
            make_span(top, tenant_id="o", trace_id=T9, start_ns=BASE_NS, cost_micros=3),
            make_span(
                orphan,
                tenant_id="o",
                trace_id=T9,
                parent_span_id="ffffffffffffffff",  # never received
                start_ns=BASE_NS + 1,
                cost_micros=4,
            ),
            make_span(
                grandchild, tenant_id="o", trace_id=T9, parent_span_id=orphan, start_ns=BASE_NS + 2
            ),
            make_span(
                sibling, tenant_id="o", trace_id=T9, parent_span_id=top, start_ns=BASE_NS + 3
            ),
        ],
    )
    tree = await TraceQueries(store).trace("o", T9)
    assert tree["span_count"] == 4
    assert tree["cost_micros"] == 7
    shape = {
        span["span_id"]: [child["span_id"] for child in span["children"]] for span in tree["spans"]
    }
    assert shape == {top: [sibling], orphan: [grandchild]}
    assert [span["span_id"] for span in tree["spans"]] == [top, orphan]


async def test_a_trace_whose_root_never_arrived_is_listed(store: AsyncEngine) -> None:
    call = make_span(
        "00000000000000e1",
        tenant_id="o",
        trace_id=T9,
        parent_span_id="ffffffffffffffff",  # the client's span, from its traceparent
        name="chat gpt-4o",
        cost_micros=12,
    )
    await _record(store, [call])
    queries = TraceQueries(store)
    assert (await queries.trace("o", T9))["span_count"] == 1  # the trace itself is there
    found, _ = await queries.traces("o", SpanFilter())
    assert [trace["trace_id"] for trace in found] == [T9]


async def test_an_unknown_trace_is_not_found(queries: TraceQueries) -> None:
    with pytest.raises(NotFoundError, match="not found") as caught:
        await queries.trace(A, "f" * 32)
    assert caught.value.status == 404


async def test_another_tenants_trace_is_not_found(queries: TraceQueries) -> None:
    with pytest.raises(NotFoundError):
        await queries.trace(B, T2)  # A's trace
    with pytest.raises(NotFoundError):
        await queries.trace(A, T9)  # B's trace
    # The same trace id in both tenants: each sees only its own spans.
    theirs = await queries.trace(B, T1)
    assert theirs["span_count"] == 1
    assert theirs["cost_micros"] == 999
    assert [span["span_id"] for span in theirs["spans"]] == [B1]
    assert theirs["spans"][0]["children"] == []
    assert (await queries.trace(A, T1))["span_count"] == 3


# --- sessions ------------------------------------------------------------------------------


def _session(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("session_id", "trace_count", "span_count", "cost_micros", "input_tokens")
    return {key: row[key] for key in keys}


async def test_sessions_group_spans_most_recently_active_first(queries: TraceQueries) -> None:
    found = await queries.sessions(A, SpanFilter())
    assert [_session(row) for row in found] == [
        {
            "session_id": "s2",
            "trace_count": 1,
            "span_count": 1,
            "cost_micros": 40,
            "input_tokens": 7,
        },
        {
            "session_id": "s1",
            "trace_count": 2,
            "span_count": 4,
            "cost_micros": 420,
            "input_tokens": 50,
        },
    ]
    s2, s1 = found
    assert (s1["first_ns"], s1["last_ns"]) == (BASE_NS + SECOND_NS, BASE_NS + 3 * SECOND_NS)
    assert (s1["first_time"], s1["last_time"]) == ("2023-11-14T22:13:21Z", "2023-11-14T22:13:23Z")
    assert s1["output_tokens"] == 5
    assert s2["first_ns"] == s2["last_ns"] == BASE_NS + 5 * SECOND_NS


async def test_sessions_follow_the_filter_and_the_page(queries: TraceQueries) -> None:
    in_p2 = await queries.sessions(A, SpanFilter(project_id="p2"))
    assert [_session(row) for row in in_p2] == [
        {
            "session_id": "s1",
            "trace_count": 1,
            "span_count": 1,
            "cost_micros": 300,
            "input_tokens": 40,
        },
    ]
    assert [row["session_id"] for row in await queries.sessions(A, SpanFilter(), limit=1)] == ["s2"]
    second = await queries.sessions(A, SpanFilter(), limit=1, offset=1)
    assert [row["session_id"] for row in second] == ["s1"]
    assert await queries.sessions(A, SpanFilter(), offset=2) == []


async def test_sessions_are_bound_to_the_tenant(queries: TraceQueries) -> None:
    found = await queries.sessions(B, SpanFilter())
    assert [_session(row) for row in found] == [
        {
            "session_id": "s9",
            "trace_count": 1,
            "span_count": 1,
            "cost_micros": 1,
            "input_tokens": 0,
        },
        {
            "session_id": "s1",
            "trace_count": 1,
            "span_count": 1,
            "cost_micros": 999,
            "input_tokens": 0,
        },
    ]
