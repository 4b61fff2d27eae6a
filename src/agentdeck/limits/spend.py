"""The spend ledger: one row per paid call, queued on the request path and written in batches
off it; and the reconciliation of budget counters with the ledger at start-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db.batch_writer import BatchWriter
from agentdeck.kv import KV
from agentdeck.limits.policy import LimitRule, budget_of
from agentdeck.limits.scripts import RAISE_TO
from agentdeck.limits.service import BudgetLedger, period_ttl_ms
from agentdeck.limits.tables import limit_rules, spend_ledger


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


class SpendLedger(BatchWriter[SpendEntry]):
    """A bounded queue of spend entries written to the ledger in batches (see BatchWriter:
    never waits on the request path, retries a failed write, loses nothing on a normal stop)."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_queue: int = 10_000,
        batch: int = 1000,
        interval_s: float = 0.5,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        super().__init__("spend ledger", self._insert, max_queue, batch, interval_s, on_drop)

    async def _insert(self, entries: list[SpendEntry]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(spend_ledger.insert(), [_row(e) for e in entries])


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
