"""Span retention on a migrated store (SQLite, and PostgreSQL when configured): per-project
days over the default, 0 keeps forever, every tenant swept, batches smaller than the work,
and the background job's start, rounds, failures and stop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.settings import DatabaseSettings
from agentdeck.settings_tracing import RetentionSettings
from agentdeck.tracing.retention import RetentionJob
from agentdeck.tracing.spans import Span
from agentdeck.tracing.tables import spans
from tests.unit.tracing.conftest import BASE_NS, make_span

DAY_NS = 86_400 * 1_000_000_000
NOW = BASE_NS + 1000 * DAY_NS


class Spans:
    """Spans made with distinct ids, each named for what the test expects of it."""

    def __init__(self) -> None:
        self.made: list[Span] = []

    def at(self, age_ns: int, project: str = "p-main", tenant: str = "tenant-a") -> str:
        """A span `age_ns` old at NOW; returns its span id."""
        span_id = f"{len(self.made) + 1:016x}"
        self.made.append(
            make_span(span_id, tenant_id=tenant, start_ns=NOW - age_ns, project_id=project)
        )
        return span_id

    def days(self, days: float, project: str = "p-main", tenant: str = "tenant-a") -> str:
        """A span `days` old at NOW."""
        return self.at(int(days * DAY_NS), project, tenant)

    def wall(self, days: float) -> str:
        """A span `days` old by the wall clock."""
        return self.at(int(days * DAY_NS) + NOW - time.time_ns())

    async def store(self, engine: AsyncEngine) -> None:
        """Insert every span made so far."""
        async with engine.begin() as conn:
            await conn.execute(spans.insert(), [span.row() for span in self.made])
        self.made = []


async def _left(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(sa.select(spans.c.span_id))).scalars())


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(spans))).scalar_one())


def _job(engine: AsyncEngine, **settings: Any) -> RetentionJob:
    return RetentionJob(engine, RetentionSettings(**settings))


async def test_the_default_days_delete_older_spans(store: AsyncEngine) -> None:
    made = Spans()
    old = [made.days(31), made.at(30 * DAY_NS + 1), made.days(400)]
    kept = [made.at(30 * DAY_NS), made.days(29), made.days(0), made.days(-1)]  # -1: clock skew
    await made.store(store)
    job = _job(store, days=30)

    assert await job.sweep(NOW) == 3
    assert await _left(store) == set(kept)
    assert job.deleted == 3
    assert await job.sweep(NOW) == 0  # nothing left to delete
    assert job.deleted == 3
    assert not set(old) & await _left(store)


async def test_per_project_days_override_the_default(store: AsyncEngine) -> None:
    made = Spans()
    short_old, short_new = made.days(8, "p-short"), made.days(6, "p-short")
    long_old, long_new = made.days(91, "p-long"), made.days(60, "p-long")
    other_old, other_new = made.days(31, "p-other"), made.days(29, "p-other")
    await made.store(store)

    job = _job(store, days=30, projects={"p-short": 7, "p-long": 90})
    assert await job.sweep(NOW) == 3
    assert await _left(store) == {short_new, long_new, other_new}
    assert {short_old, long_old, other_old}.isdisjoint(await _left(store))


async def test_zero_days_for_a_project_keeps_it_forever(store: AsyncEngine) -> None:
    made = Spans()
    forever = [made.days(5000, "p-keep"), made.days(31, "p-keep")]
    others = [made.days(31, "p-main"), made.days(31, "p-else")]
    await made.store(store)

    job = _job(store, days=30, projects={"p-keep": 0})
    assert await job.sweep(NOW) == 2
    assert await _left(store) == set(forever)
    assert set(others).isdisjoint(await _left(store))


async def test_zero_default_days_keep_unlisted_projects_forever(store: AsyncEngine) -> None:
    made = Spans()
    made.days(8, "p-short")
    kept = [made.days(6, "p-short"), made.days(5000, "p-main"), made.days(5000, "p-else")]
    await made.store(store)

    job = _job(store, days=0, projects={"p-short": 7})
    assert await job.sweep(NOW) == 1
    assert await _left(store) == set(kept)


async def test_everything_kept_deletes_nothing(store: AsyncEngine) -> None:
    made = Spans()
    all_ids = {made.days(5000, "p-a"), made.days(5000, "p-b")}
    await made.store(store)
    assert await _job(store, days=0, projects={"p-a": 0}).sweep(NOW) == 0
    assert await _left(store) == all_ids


async def test_every_tenant_is_swept_with_the_same_rules(store: AsyncEngine) -> None:
    made = Spans()
    kept = set()
    for tenant in ("tenant-a", "tenant-b", "tenant-c", "zz-last"):
        made.days(31, "p-main", tenant)
        made.days(8, "p-short", tenant)
        kept |= {made.days(29, "p-main", tenant), made.days(6, "p-short", tenant)}
    await made.store(store)

    job = _job(store, days=30, projects={"p-short": 7})
    assert await job.sweep(NOW) == 8
    assert await _left(store) == kept
    async with store.connect() as conn:
        per_tenant: dict[str, int] = dict(
            (await conn.execute(
                sa.select(spans.c.tenant_id, sa.func.count()).group_by(spans.c.tenant_id)
            )).all()
        )  # fmt: skip
    assert per_tenant == {"tenant-a": 2, "tenant-b": 2, "tenant-c": 2, "zz-last": 2}


def _deletes(engine: AsyncEngine) -> list[str]:
    """Every DELETE FROM spans sent on `engine` from now on."""
    seen: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _sent(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM SPANS"):
            seen.append(statement)

    return seen


async def test_batches_smaller_than_the_work_still_delete_every_row(store: AsyncEngine) -> None:
    made = Spans()
    for _ in range(30):
        made.days(40, "p-main", "tenant-a")
    for _ in range(21):
        made.days(40, "p-main", "tenant-b")
    for _ in range(10):
        made.days(10, "p-short", "tenant-b")
    kept = {made.days(1, "p-main", "tenant-a"), made.days(1, "p-short", "tenant-b")}
    await made.store(store)
    statements = _deletes(store)

    job = _job(store, days=30, batch=7, projects={"p-short": 7})
    assert await job.sweep(NOW) == 61
    assert await _left(store) == kept
    # tenant-a: p-short 0, default 7+7+7+7+2; tenant-b: p-short 7+3, default 7+7+7+0.
    assert len(statements) == (1 + 5) + (2 + 4)
    assert job.deleted == 61


async def test_a_batch_of_one(store: AsyncEngine) -> None:
    made = Spans()
    for _ in range(5):
        made.days(40)
    await made.store(store)
    assert await _job(store, days=30, batch=1).sweep(NOW) == 5
    assert await _count(store) == 0


async def test_an_empty_store_is_swept_without_work(store: AsyncEngine) -> None:
    statements = _deletes(store)
    assert await _job(store, days=30, projects={"p": 1}).sweep(NOW) == 0
    assert statements == []  # no tenant has spans: no delete is sent


async def test_the_clock_is_read_when_no_time_is_given(store: AsyncEngine) -> None:
    now = time.time_ns()
    old = make_span("00000000000000a1", start_ns=now - 31 * DAY_NS, project_id="p")
    new = make_span("00000000000000a2", start_ns=now - 29 * DAY_NS, project_id="p")
    async with store.begin() as conn:
        await conn.execute(spans.insert(), [old.row(), new.row()])
    assert await _job(store, days=30).sweep() == 1
    assert await _left(store) == {"00000000000000a2"}


async def _until(check: Any, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_job_sweeps_in_rounds_until_stopped(store: AsyncEngine) -> None:
    made = Spans()
    made.wall(40)
    fresh = made.wall(0)
    await made.store(store)
    job = _job(store, days=30, interval_s=0.05)
    before = asyncio.all_tasks()
    await job.start()
    started = asyncio.all_tasks() - before
    assert len(started) == 1
    try:
        await _until(lambda: _left_is(store, {fresh}))
        # A later round deletes what has aged since.
        made.wall(31)
        await made.store(store)
        await _until(lambda: _left_is(store, {fresh}))
        await _until(lambda: _deleted_is(job, 2))  # counted once the round has ended
    finally:
        await job.stop()
    (task,) = started
    assert task.done()
    assert task.cancelled()

    made.wall(50)
    await made.store(store)
    await asyncio.sleep(0.2)  # four intervals: a running job would have swept
    assert await _count(store) == 2
    await job.stop()  # stopping twice is harmless
    assert job.deleted == 2


async def _left_is(engine: AsyncEngine, expected: set[str]) -> bool:
    return await _left(engine) == expected


async def _deleted_is(job: RetentionJob, count: int) -> bool:
    return job.deleted == count


async def test_a_job_with_nothing_to_delete_starts_no_task(store: AsyncEngine) -> None:
    made = Spans()
    made.wall(5000)
    await made.store(store)
    job = _job(store, days=0, projects={"p-main": 0, "p-else": 0}, interval_s=0.01)
    before = asyncio.all_tasks()
    await job.start()
    assert asyncio.all_tasks() - before == set()
    await asyncio.sleep(0.1)
    assert await _count(store) == 1
    await job.stop()


async def test_a_failed_round_is_logged_and_the_next_round_runs(
    database_settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(database_settings)  # not migrated yet: there is no spans table
    job = _job(engine, days=30, interval_s=0.05)
    caplog.set_level(logging.WARNING, logger="agentdeck.tracing.retention")
    try:
        await job.start()
        deadline = time.monotonic() + 5
        while "span retention sweep failed, retrying next round" not in caplog.text:
            assert time.monotonic() < deadline, "no failed round was logged"
            await asyncio.sleep(0.02)
        await migrate(engine)
        made = Spans()
        made.wall(40)
        kept = made.wall(0)
        await made.store(engine)
        await _until(lambda: _left_is(engine, {kept}))
        await _until(lambda: _deleted_is(job, 1))
    finally:
        await job.stop()
        await engine.dispose()
