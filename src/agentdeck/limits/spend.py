"""The spend ledger: one row per paid call, queued on the request path and written in batches
off it; and the reconciliation of budget counters with the ledger at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.kv import KV
from agentdeck.limits.policy import LimitRule, budget_of
from agentdeck.limits.scripts import RAISE_TO
from agentdeck.limits.service import BudgetLedger, period_ttl_ms
from agentdeck.limits.tables import limit_rules, spend_ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpendEntry:
    """What one call cost, and who and what it is charged to."""

    request_id: str
    tenant_id: str
    project_id: str
    principal_id: str
    key_id: str
    alias: str
    deployment: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    at: datetime


_FIELDS = tuple(f.name for f in fields(SpendEntry))


def _row(entry: SpendEntry) -> dict[str, object]:
    """An entry as insert parameters (`asdict` deep-copies; this is several times cheaper)."""
    return {name: getattr(entry, name) for name in _FIELDS}


class SpendLedger:
    """A bounded queue of entries and the task that writes them in batches.

    A batch that fails to write is retried with backoff and kept (the queue stops taking new
    entries meanwhile, counting them as dropped); `stop` writes everything still queued or held.
    Entries taken from the queue are held until written, and a write under way when the writer
    is stopped is let finish: a shutdown neither loses a batch nor writes it twice.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        max_queue: int = 10_000,
        batch: int = 1000,
        interval_s: float = 0.5,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[SpendEntry] = asyncio.Queue(max_queue)
        self._batch = batch
        self._interval = interval_s
        self._on_drop = on_drop
        self._task: asyncio.Task[None] | None = None
        self._held: list[SpendEntry] = []  # taken from the queue, not written yet
        self._writing: asyncio.Future[None] | None = None
        self.dropped = 0
        self.written = 0

    def add(self, entry: SpendEntry) -> None:
        """Queue `entry`; never waits (a full queue drops it, counted)."""
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            if self.dropped % 1000 == 1:  # a log line per drop would add to the overload
                log.warning("spend ledger queue full: %d entries dropped so far", self.dropped)

    async def start(self) -> None:
        """Begin writing in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the writer and write everything still held or queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writing is not None:
            # A write the cancelled writer was waiting for: let it end rather than repeat it.
            with contextlib.suppress(OSError, sa.exc.SQLAlchemyError):
                await self._writing
            self._writing = None
        while self._held or not self._queue.empty():
            if not self._held:
                self._held = self._take()
            await self._write_held()

    def _take(self) -> list[SpendEntry]:
        entries: list[SpendEntry] = []
        while len(entries) < self._batch and not self._queue.empty():
            entries.append(self._queue.get_nowait())
        return entries

    async def _run(self) -> None:
        delay = 0.5
        while True:
            if not self._held:
                self._held.append(await self._queue.get())
                if self._queue.qsize() < self._batch:
                    await asyncio.sleep(self._interval)  # let a batch gather (not when one has)
                self._held.extend(self._take())
            # Shielded: cancelling the writer must not cut a write off half-way.
            self._writing = asyncio.ensure_future(self._write_held())
            try:
                await asyncio.shield(self._writing)
                delay = 0.5
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("spend ledger write failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _write_held(self) -> None:
        await self._write(self._held)
        self._held = []

    async def _write(self, entries: list[SpendEntry]) -> None:
        if entries:
            async with self._engine.begin() as conn:
                await conn.execute(spend_ledger.insert(), [_row(e) for e in entries])
            self.written += len(entries)


def _period_start(period: str, now: float) -> datetime | None:
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


_COLUMN = {"tenant": "tenant_id", "project": "project_id", "user": "principal_id", "key": "key_id"}


def _rule_filter(rule: LimitRule, members: dict[str, list[str]]) -> sa.ColumnElement[bool]:
    c = spend_ledger.c
    if rule.scope_kind == "model":
        return sa.and_(c.tenant_id == rule.tenant_id, c.alias == rule.scope_id)
    if rule.scope_kind == "team":
        # Team spend is that of its members now: the ledger does not keep past memberships.
        return c.principal_id.in_(members.get(rule.scope_id, []))
    return c[_COLUMN[rule.scope_kind]] == rule.scope_id


async def reconcile(
    engine: AsyncEngine,
    kv: KV,
    members: dict[str, list[str]],
    clock: Callable[[], float] = time.time,
) -> int:
    """Raise every budget's spent counter to at least what the ledger holds for its current
    period (counters of an in-process kv start at zero; Redis may have been flushed). Returns
    how many counters were raised."""
    now = clock()
    ledger = BudgetLedger(kv, clock=lambda: now)
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(limit_rules).where(limit_rules.c.metric == "cost"))
        rules = [
            LimitRule(**{k: v for k, v in row._mapping.items() if k != "created_at"})
            for row in rows
        ]
        raised = 0
        for rule in rules:
            query = sa.select(sa.func.coalesce(sa.func.sum(spend_ledger.c.cost_micros), 0)).where(
                _rule_filter(rule, members)
            )
            start = _period_start(rule.period, now)
            if start is not None:
                query = query.where(spend_ledger.c.at >= start)
            total = int(await conn.scalar(query) or 0)
            budget = budget_of(rule)
            spent_key = ledger.spent_key(budget, now)
            if total and await kv.run(RAISE_TO, [spent_key], [total, period_ttl_ms(budget)]):
                raised += 1
    return raised
