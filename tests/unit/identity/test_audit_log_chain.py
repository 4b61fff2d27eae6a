"""The audit log in a real store (SQLite, and PostgreSQL when configured): concurrent appenders
queue on the tenant's head row, so every tenant's chain stays gap-free and verifies, even
while it is being verified; the background queue writes what it holds."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.identity.audit_chain import GENESIS
from agentdeck.identity.audit_log import (
    AuditEvent,
    AuditQueue,
    append,
    events,
    head,
    tenants_with_events,
    verify_tenant,
)
from agentdeck.settings import DatabaseSettings

TASKS, PER_TASK = 50, 5


def _event(tenant: str, task: int, n: int) -> AuditEvent:
    return AuditEvent(tenant, f"user:u{task}", "thing.change", f"thing/{task}/{n}", None, {"n": n})


async def _appender(engine: AsyncEngine, tenant: str, task: int) -> None:
    """Five events: one batch of two, then three alone, each in its own transaction."""
    async with engine.begin() as conn:
        await append(conn, [_event(tenant, task, 0), _event(tenant, task, 1)])
    for n in range(2, PER_TASK):
        async with engine.begin() as conn:
            await append(conn, [_event(tenant, task, n)])


async def _stored(engine: AsyncEngine, tenant: str) -> list[dict[str, Any]]:
    return [event async for event in events(engine, tenant)]


async def test_concurrent_appends_for_two_tenants_give_gap_free_chains(
    store: AsyncEngine,
) -> None:
    await asyncio.gather(
        *(_appender(store, tenant, task) for task in range(TASKS) for tenant in ("ten_a", "ten_b"))
    )

    total = TASKS * PER_TASK
    for tenant in ("ten_a", "ten_b"):
        stored = await _stored(store, tenant)
        assert [e["position"] for e in stored] == list(range(1, total + 1))
        assert {e["tenant_id"] for e in stored} == {tenant}
        # every event is there exactly once, and a task's events keep their order
        resources = [e["resource"] for e in stored]
        assert sorted(resources) == sorted(f"thing/{t}/{n}" for t in range(TASKS) for n in range(5))
        for task in range(TASKS):
            mine = [r for r in resources if r.startswith(f"thing/{task}/")]
            assert mine == [f"thing/{task}/{n}" for n in range(PER_TASK)]
        # the batch of two sits side by side
        for task in range(TASKS):
            first = resources.index(f"thing/{task}/0")
            assert resources[first + 1] == f"thing/{task}/1"
        # each event links to the one before it, the first to the genesis
        assert stored[0]["previous"] == GENESIS
        assert all(b["previous"] == a["hash"] for a, b in itertools.pairwise(stored))
        assert await head(store, tenant) == (total, stored[-1]["hash"])
        verdict = await verify_tenant(store, tenant)
        assert (verdict.ok, verdict.checked, verdict.reason) == (True, total, "")
    assert await tenants_with_events(store) == ["ten_a", "ten_b"]


async def test_first_appends_of_a_new_tenant_race_without_failing(store: AsyncEngine) -> None:
    """No head row exists yet: every appender finds none at once and must still queue."""
    for round_ in range(5):
        tenant = f"ten_new{round_}"
        await asyncio.gather(*(_appender(store, tenant, task) for task in range(8)))
        verdict = await verify_tenant(store, tenant)
        assert (verdict.ok, verdict.checked) == (True, 8 * PER_TASK)


async def test_verify_during_appends_never_reports_a_false_break(store: AsyncEngine) -> None:
    """Appends commit while the verifier reads: it must not take them for truncation."""
    verdicts = []
    done = asyncio.Event()

    async def verifier() -> None:
        while not done.is_set():
            verdicts.append(await verify_tenant(store, "ten_busy"))
            await asyncio.sleep(0)

    async def appenders() -> None:
        for wave in range(10):
            await asyncio.gather(*(_appender(store, "ten_busy", wave * 10 + t) for t in range(5)))
        done.set()

    await asyncio.gather(verifier(), verifier(), appenders())

    assert len(verdicts) >= 4
    broken = [(v.bad_position, v.reason) for v in verdicts if not v.ok]
    assert broken == []
    final = await verify_tenant(store, "ten_busy")
    assert (final.ok, final.checked) == (True, 50 * PER_TASK)


async def test_an_empty_tenant_verifies_with_nothing_checked(store: AsyncEngine) -> None:
    verdict = await verify_tenant(store, "ten_nobody")
    assert (verdict.ok, verdict.checked) == (True, 0)
    assert await head(store, "ten_nobody") is None


async def test_the_queue_writes_what_it_holds_grouped_per_tenant(store: AsyncEngine) -> None:
    dropped = []
    queue = AuditQueue(store, max_queue=30, on_drop=lambda: dropped.append(1))
    await queue.start()
    for n in range(20):
        queue.add(_event("ten_q1" if n % 2 else "ten_q2", 0, n))
    for _ in range(200):  # the background writer catches up without being stopped
        if len(await _stored(store, "ten_q1")) + len(await _stored(store, "ten_q2")) == 20:
            break
        await asyncio.sleep(0.02)
    await queue.stop()

    for tenant, parity in (("ten_q1", 1), ("ten_q2", 0)):
        stored = await _stored(store, tenant)
        assert [e["resource"] for e in stored] == [
            f"thing/0/{n}" for n in range(20) if n % 2 == parity
        ]
        verdict = await verify_tenant(store, tenant)
        assert (verdict.ok, verdict.checked) == (True, 10)
    assert dropped == []


async def test_a_full_queue_drops_and_counts_and_stop_flushes(store: AsyncEngine) -> None:
    dropped = []
    queue = AuditQueue(store, max_queue=5, on_drop=lambda: dropped.append(1))
    for n in range(8):  # not started: nothing drains it
        queue.add(_event("ten_full", 0, n))
    await queue.stop()

    assert len(dropped) == 3
    stored = await _stored(store, "ten_full")
    assert [e["resource"] for e in stored] == [f"thing/0/{n}" for n in range(5)]
    assert (await verify_tenant(store, "ten_full")).checked == 5


async def test_an_append_rolled_back_with_its_change_leaves_no_trace(store: AsyncEngine) -> None:
    async with store.begin() as conn:
        await append(conn, [_event("ten_rb", 0, 0)])

    async def abandoned_change() -> None:
        async with store.begin() as conn:
            await append(conn, [_event("ten_rb", 0, 1)])
            raise LookupError("the change failed after its audit event was appended")

    with pytest.raises(LookupError):
        await abandoned_change()
    async with store.begin() as conn:
        await append(conn, [_event("ten_rb", 0, 2)])

    stored = await _stored(store, "ten_rb")
    assert [(e["position"], e["resource"]) for e in stored] == [(1, "thing/0/0"), (2, "thing/0/2")]
    assert (await verify_tenant(store, "ten_rb")).ok
    async with store.connect() as conn:
        count = await conn.scalar(sa.text("SELECT count(*) FROM audit_events"))
    assert count == 2


async def test_a_failed_write_is_retried_in_order_and_loses_nothing(
    database_settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """The store has no tables yet: writes fail, the queue holds its events, and once the
    store is migrated every event of every tenant is written in the order it was added."""
    engine = create_engine(database_settings)
    queue = AuditQueue(engine, max_queue=100)
    try:
        await queue.start()
        for n in range(6):
            queue.add(_event("ten_r1" if n % 3 else "ten_r2", 0, n))
        for _ in range(100):
            if "audit queue write failed" in caplog.text:
                break
            await asyncio.sleep(0.02)
        assert "audit queue write failed, retrying" in caplog.text
        queue.add(_event("ten_r2", 0, 6))
        await migrate(engine)
        for _ in range(250):  # the retry comes within about a second
            if len(await _stored(engine, "ten_r1")) + len(await _stored(engine, "ten_r2")) == 7:
                break
            await asyncio.sleep(0.02)
        await queue.stop()
        written = {
            tenant: [event["resource"] for event in await _stored(engine, tenant)]
            for tenant in ("ten_r1", "ten_r2")
        }
    finally:
        await engine.dispose()
    assert written == {
        "ten_r1": ["thing/0/1", "thing/0/2", "thing/0/4", "thing/0/5"],
        "ten_r2": ["thing/0/0", "thing/0/3", "thing/0/6"],
    }
