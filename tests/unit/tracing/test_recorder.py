"""The span recorder on a migrated store (SQLite, and PostgreSQL when configured): batches,
no loss on a normal stop, duplicates stored once, a bounded queue that drops and counts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.tracing.queries import SpanFilter, TraceQueries
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from agentdeck.tracing.tables import spans
from tests.unit.tracing.conftest import BASE_NS, MS_NS, make_span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def _count(engine: AsyncEngine, tenant_id: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(spans)
    if tenant_id is not None:
        query = query.where(spans.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def _numbered(count: int, tenant_id: str = "tenant-a") -> list[Span]:
    return [
        make_span(
            f"{n:016x}", tenant_id=tenant_id, trace_id=f"{n // 10:032x}", start_ns=BASE_NS + n
        )
        for n in range(count)
    ]


def _batch_sizes(recorder: SpanRecorder) -> list[int]:
    """The number of spans of every batch the recorder writes from now on (the SQL differs
    by engine: bound INSERTs on SQLite, COPY on PostgreSQL)."""
    sizes: list[int] = []
    write = recorder.writer._write_batch

    async def counted(batch: list[Span]) -> None:
        await write(batch)
        sizes.append(len(batch))

    recorder.writer._write_batch = counted
    return sizes


async def test_a_normal_stop_writes_every_span_in_batches(store: AsyncEngine) -> None:
    recorder = SpanRecorder(store, batch=1000, interval_s=0.05)
    sizes = _batch_sizes(recorder)
    await recorder.start()
    for span in _numbered(2_500):
        recorder.record(span)
    await recorder.stop()

    assert await _count(store) == 2_500
    assert recorder.writer.written == 2_500
    assert recorder.writer.pending == 0
    assert recorder.writer.dropped == 0
    assert sum(sizes) == 2_500
    assert max(sizes) <= 1000
    assert len(sizes) >= 3


async def test_stop_without_start_writes_everything_queued(store: AsyncEngine) -> None:
    recorder = SpanRecorder(store, batch=1000)
    sizes = _batch_sizes(recorder)
    for span in _numbered(2_500):
        recorder.record(span)
    assert recorder.writer.pending == 2_500
    await recorder.stop()

    assert sizes == [1000, 1000, 500]
    assert await _count(store) == 2_500
    async with store.connect() as conn:
        ids = set((await conn.execute(sa.select(spans.c.span_id))).scalars())
    assert ids == {f"{n:016x}" for n in range(2_500)}


async def test_the_background_writer_writes_before_stop(store: AsyncEngine) -> None:
    recorder = SpanRecorder(store, batch=100, interval_s=0.01)
    await recorder.start()
    try:
        for span in _numbered(30):
            recorder.record(span)
        for _ in range(200):
            if recorder.writer.written == 30:
                break
            await asyncio.sleep(0.01)
        assert recorder.writer.written == 30
        assert await _count(store) == 30
    finally:
        await recorder.stop()
    assert await _count(store) == 30


async def test_a_span_recorded_twice_is_stored_once(store: AsyncEngine) -> None:
    first = make_span("00000000000000a1", trace_id=TRACE, name="first", cost_micros=5)
    again = make_span("00000000000000a1", trace_id=TRACE, name="first", cost_micros=5)
    retried = make_span("00000000000000a1", trace_id=TRACE, name="retried", cost_micros=9)
    recorder = SpanRecorder(store)
    recorder.record(first)
    recorder.record(again)  # the same batch
    await recorder.stop()
    later = SpanRecorder(store)
    later.record(retried)  # a later batch
    await later.stop()

    assert recorder.writer.written == 2
    assert later.writer.written == 1
    async with store.connect() as conn:
        rows = (await conn.execute(sa.select(spans.c.name, spans.c.cost_micros))).all()
    assert [tuple(row) for row in rows] == [("first", 5)]  # the first one received is kept


async def test_a_duplicate_does_not_cost_the_rest_of_its_batch(store: AsyncEngine) -> None:
    recorder = SpanRecorder(store)
    recorder.record(make_span("00000000000000b1", trace_id=TRACE))
    await recorder.stop()
    batch = [
        make_span("00000000000000b1", trace_id=TRACE),
        make_span("00000000000000b2", trace_id=TRACE),
        make_span("00000000000000b3", trace_id=TRACE),
    ]
    second = SpanRecorder(store)
    assert second.record_all(batch) is True
    await second.stop()
    assert await _count(store) == 3


async def test_the_same_ids_in_two_tenants_are_two_spans(store: AsyncEngine) -> None:
    recorder = SpanRecorder(store)
    recorder.record(make_span("00000000000000c1", tenant_id="tenant-a", trace_id=TRACE))
    recorder.record(make_span("00000000000000c1", tenant_id="tenant-b", trace_id=TRACE))
    await recorder.stop()
    assert await _count(store, "tenant-a") == 1
    assert await _count(store, "tenant-b") == 1


async def test_a_full_queue_drops_and_counts(store: AsyncEngine) -> None:
    drops: list[int] = []
    recorder = SpanRecorder(store, max_queue=10, on_drop=drops.append)
    for span in _numbered(15):
        recorder.record(span)  # the writer is not started: nothing leaves the queue

    assert recorder.writer.pending == 10
    assert recorder.writer.dropped == 5
    assert drops == [1, 1, 1, 1, 1]
    assert recorder.writer.room() == 0
    await recorder.stop()

    assert await _count(store) == 10
    async with store.connect() as conn:
        ids = sorted((await conn.execute(sa.select(spans.c.span_id))).scalars())
    assert ids == [f"{n:016x}" for n in range(10)]  # the first ten were kept
    assert recorder.writer.dropped == 5


async def test_record_all_queues_a_whole_batch_or_nothing(store: AsyncEngine) -> None:
    drops: list[int] = []
    recorder = SpanRecorder(store, max_queue=10, on_drop=drops.append)
    spans_ = _numbered(17)
    assert recorder.record_all(spans_[:4]) is True
    assert recorder.writer.pending == 4

    assert recorder.record_all(spans_[4:11]) is False  # 7 do not fit in the 6 left
    assert recorder.writer.pending == 4
    assert recorder.writer.room() == 6

    assert recorder.record_all(spans_[11:17]) is True  # exactly the 6 left
    assert recorder.writer.pending == 10
    assert recorder.record_all([]) is True
    await recorder.stop()

    async with store.connect() as conn:
        ids = sorted((await conn.execute(sa.select(spans.c.span_id))).scalars())
    assert ids == [f"{n:016x}" for n in [0, 1, 2, 3, 11, 12, 13, 14, 15, 16]]
    assert drops == []  # a refused batch is the caller's to answer, not a counted drop
    assert recorder.writer.dropped == 0


async def test_a_written_batch_reads_back_through_the_queries(store: AsyncEngine) -> None:
    root = make_span(
        "00000000000000d1",
        trace_id=TRACE,
        name="chat gpt-4o",
        duration_ms=120,
        project_id="proj-1",
        kind="client",
        status="ok",
        operation="chat",
        provider="openai",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        input_tokens=11,
        output_tokens=7,
        cost_micros=250,
        session_id="sess-1",
        attributes={"agentdeck.tags": ["eval"], "gen_ai.request.model": "gpt-4o"},
        events=[{"name": "first_token", "time_ns": BASE_NS + 30 * MS_NS}],
    )
    child = make_span(
        "00000000000000d2",
        trace_id=TRACE,
        parent_span_id="00000000000000d1",
        start_ns=BASE_NS + 5 * MS_NS,
        duration_ms=2.5,
        name="execute_tool search",
        tool_name="search",
        status="error",
        status_message="timeout",
        cost_micros=0,
    )
    recorder = SpanRecorder(store)
    await recorder.start()
    assert recorder.record_all([root, child]) is True
    await recorder.stop()

    queries = TraceQueries(store)
    page, after = await queries.spans("tenant-a", SpanFilter())
    assert after is None
    assert [span["span_id"] for span in page] == ["00000000000000d2", "00000000000000d1"]
    stored = page[1]
    assert stored["name"] == "chat gpt-4o"
    assert stored["trace_id"] == TRACE
    assert stored["parent_span_id"] is None
    assert stored["duration_ms"] == 120.0
    assert stored["start_ns"] == BASE_NS
    assert stored["end_ns"] == BASE_NS + 120 * MS_NS
    assert stored["start_time"] == "2023-11-14T22:13:20Z"
    assert stored["end_time"] == "2023-11-14T22:13:20.120000Z"
    assert stored["attributes"] == {"agentdeck.tags": ["eval"], "gen_ai.request.model": "gpt-4o"}
    assert stored["events"] == [{"name": "first_token", "time_ns": BASE_NS + 30 * MS_NS}]
    assert (stored["input_tokens"], stored["output_tokens"], stored["cost_micros"]) == (11, 7, 250)
    assert (stored["kind"], stored["status"], stored["session_id"]) == ("client", "ok", "sess-1")
    assert page[0]["duration_ms"] == 2.5
    assert page[0]["status_message"] == "timeout"

    tree = await queries.trace("tenant-a", TRACE)
    assert tree["span_count"] == 2
    assert tree["cost_micros"] == 250
    assert [span["span_id"] for span in tree["spans"]] == ["00000000000000d1"]
    assert [span["span_id"] for span in tree["spans"][0]["children"]] == ["00000000000000d2"]


async def test_an_over_long_value_does_not_hold_up_other_spans(
    store: AsyncEngine, request: pytest.FixtureRequest
) -> None:
    """A span's name carries the client's `model` field, which no rule bounds. On PostgreSQL
    a value over the 256 characters of its column fails the whole batch, which is retried
    forever and never written; SQLite does not check lengths."""
    recorder = SpanRecorder(store)
    recorder.record(make_span("00000000000000e1", trace_id=TRACE, name="chat " + "m" * 300))
    recorder.record(make_span("00000000000000e2", trace_id=TRACE, name="chat fine"))
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        await recorder.stop()
    async with store.connect() as conn:
        names = set((await conn.execute(sa.select(spans.c.name))).scalars())
    assert "chat fine" in names


async def test_connections_go_back_to_the_pool_once_the_queue_is_empty(store: AsyncEngine) -> None:
    """Between batches the writer keeps its connection while more spans are queued; once
    nothing is left to write it gives it back, so an idle recorder holds none."""
    recorder = SpanRecorder(store, batch=100, interval_s=0.01)
    await recorder.start()
    try:
        assert recorder.record_all(_numbered(1_000))
        for _ in range(500):
            if recorder.writer.written == 1_000:
                break
            await asyncio.sleep(0.01)
        assert recorder.writer.written == 1_000
        assert store.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await recorder.stop()
    assert await _count(store) == 1_000


async def test_a_connection_whose_write_failed_is_not_used_again(store: AsyncEngine) -> None:
    told: list[list[str]] = []
    recorder = SpanRecorder(
        store, batch=100, interval_s=0.01,
        on_written=lambda batch: told.append([span.span_id for span in batch]),
    )  # fmt: skip
    used: list[object] = []  # the driver's connections the writes were given
    real = recorder._store

    async def flaky(conn: AsyncConnection, rows: list[tuple[object, ...]]) -> None:
        used.append((await conn.get_raw_connection()).driver_connection)
        if len(used) == 1:  # as if the connection broke half-way
            raise sa.exc.OperationalError("INSERT", None, OSError("connection reset"))
        await real(conn, rows)

    recorder._store = flaky
    await recorder.start()
    try:
        assert recorder.record_all(_numbered(50))
        for _ in range(300):
            if recorder.writer.written == 50:
                break
            await asyncio.sleep(0.01)
    finally:
        await recorder.stop()
    assert len(used) >= 2
    assert all(conn is not used[0] for conn in used[1:])  # thrown away, a new one taken
    assert await _count(store) == 50
    assert told == [[f"{n:016x}" for n in range(50)]]  # told once, after the write that stored


async def test_the_same_spans_in_two_batches_in_flight_at_once_are_stored_once(
    store: AsyncEngine,
) -> None:
    """An exporter retrying a request while the first copy is still being written: on
    PostgreSQL the two batches are written at the same time, on two connections."""
    recorder = SpanRecorder(store, batch=500, interval_s=0.01)
    assert recorder.record_all(_numbered(500))
    assert recorder.record_all(_numbered(500))
    await recorder.start()
    for _ in range(500):
        if recorder.writer.written == 1_000:
            break
        await asyncio.sleep(0.01)
    await recorder.stop()
    assert recorder.writer.written == 1_000
    assert await _count(store) == 500
