"""Service-level objectives: good and bad spans over several trailing windows in one query,
burn rates, the error budget of the period, and the burn-rate verdict.

A span in scope is bad when its status is error (availability) or when it took longer than the
threshold (latency). The burn rate over a window is its bad fraction divided by the fraction
the objective allows (1 - target): 1 spends the budget exactly over the period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.tracing.aggregates import SECOND_NS
from agentdeck.tracing.alerts.models import SEVERITY_RANK, SloSpec, Verdict
from agentdeck.tracing.tables import spans

_C = spans.c
DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Counts:
    """Spans in scope over one window, and how many of them were bad."""

    total: int
    bad: int

    def burn(self, target: float) -> Fraction:
        """The bad fraction over the allowed fraction, exactly (0 when nothing happened)."""
        return Fraction(self.bad, self.total) / allowed(target) if self.total else Fraction(0)

    def burn_rate(self, target: float) -> float:
        """`burn` as a float."""
        return float(self.burn(target))


def allowed(target: float) -> Fraction:
    """The fraction of bad spans an objective allows, exactly as written: a target of 0.999
    allows 1/1000, not the float nearest 1 - 0.999 (which makes a budget spent exactly look
    overspent, and a burn of exactly 14.4 fall short of 14.4)."""
    return 1 - Fraction(repr(target))


def _bad(spec: SloSpec) -> sa.ColumnElement[bool]:
    if spec.objective == "availability":
        return _C.status == "error"
    assert spec.threshold_ms is not None
    return _C.duration_us > round(spec.threshold_ms * 1000)


def _sum_if(condition: sa.ColumnElement[bool], name: str) -> sa.Label[int]:
    total = sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
    return sa.cast(total, sa.BigInteger).label(name)


async def slo_counts(
    engine: AsyncEngine, tenant_id: str, spec: SloSpec, now_ns: int, windows_s: Iterable[int]
) -> dict[int, Counts]:
    """Counts for every trailing window (seconds before `now_ns`), read in one scan of the
    longest one."""
    sizes = sorted(set(windows_s))
    starts = {size: now_ns - size * SECOND_NS for size in sizes}
    bad = _bad(spec)
    columns = []
    for size in sizes:
        inside = _C.start_ns >= starts[size]
        columns += [_sum_if(inside, f"t{size}"), _sum_if(sa.and_(inside, bad), f"b{size}")]
    where = spec.scope.span_filter().where(tenant_id)
    query = sa.select(*columns).where(
        *where, _C.start_ns >= starts[sizes[-1]], _C.start_ns < now_ns
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()._mapping
    return {size: Counts(int(row[f"t{size}"]), int(row[f"b{size}"])) for size in sizes}


def burn_windows(spec: SloSpec) -> set[int]:
    """Every window the burn-rate alerts read."""
    return {s for alert in spec.burn_alerts for s in (alert.long_s, alert.short_s)}


def slo_verdict(spec: SloSpec, counts: dict[int, Counts]) -> Verdict:
    """The most severe burn-rate alert whose long and short windows both burn at least its
    rate; not firing when none does."""
    found: list[dict[str, Any]] = []
    worst: dict[str, Any] | None = None
    for alert in spec.burn_alerts:
        long_burn = counts[alert.long_s].burn(spec.target)
        short_burn = counts[alert.short_s].burn(spec.target)
        limit = Fraction(repr(alert.burn_rate))
        firing = long_burn >= limit and short_burn >= limit
        long_rate, short_rate = float(long_burn), float(short_burn)
        entry = {
            "severity": alert.severity,
            "long_s": alert.long_s,
            "short_s": alert.short_s,
            "burn_rate": alert.burn_rate,
            "long_burn_rate": long_rate,
            "short_burn_rate": short_rate,
            "firing": firing,
        }
        found.append(entry)
        rank = SEVERITY_RANK[alert.severity]
        if firing and (worst is None or rank > SEVERITY_RANK[worst["severity"]]):
            worst = entry
    details = {"objective": spec.objective, "target": spec.target, "burn_alerts": found}
    if worst is None:
        first = found[0] if found else {"long_burn_rate": 0.0, "burn_rate": None}
        rate = first["long_burn_rate"]
        message = f"{spec.name}: error budget burning at {rate:.3g}x, within every alert"
        return Verdict(False, rate, first["burn_rate"], message, None, details)
    message = (
        f"{spec.name}: error budget burning at {worst['long_burn_rate']:.3g}x over "
        f"{_span(worst['long_s'])} and {worst['short_burn_rate']:.3g}x over "
        f"{_span(worst['short_s'])} (alert at {worst['burn_rate']:g}x)"
    )
    return Verdict(
        True, worst["long_burn_rate"], worst["burn_rate"], message, worst["severity"], details
    )


def slo_status(spec: SloSpec, counts: dict[int, Counts]) -> dict[str, Any]:
    """The objective over its period: the SLI, the error budget and how much of it is left,
    and every burn-rate alert's current rates."""
    period = counts[spec.period_days * DAY_S]
    budget = allowed(spec.target) * period.total
    verdict = slo_verdict(spec, counts)
    return {
        "period_days": spec.period_days,
        "total": period.total,
        "good": period.total - period.bad,
        "bad": period.bad,
        "sli": (period.total - period.bad) / period.total if period.total else None,
        "target": spec.target,
        "error_budget": float(budget),
        "error_budget_remaining": float(1 - period.bad / budget) if budget else None,
        "burn_alerts": verdict.details["burn_alerts"],
        "firing": verdict.firing,
        "severity": verdict.severity,
    }


def _span(seconds: int) -> str:
    for unit, size in (("d", DAY_S), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
