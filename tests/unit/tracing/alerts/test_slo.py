"""SLOs over stored spans (SQLite, and PostgreSQL when configured): counts per trailing
window in one query, burn rates, the multiwindow verdict and its severity, the error budget of
the period, and latency objectives."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.tracing.alerts.models import BurnAlert, SloSpec
from agentdeck.tracing.alerts.slo import (
    DAY_S,
    Counts,
    burn_windows,
    slo_counts,
    slo_status,
    slo_verdict,
)
from tests.unit.tracing.alerts.test_evaluate import NOW, A, B, record, span
from tests.unit.tracing.conftest import SECOND_NS

MINUTE_NS = 60 * SECOND_NS


def slo(**fields: Any) -> SloSpec:
    """An availability SLO of 99 % unless `fields` say otherwise."""
    fields.setdefault("objective", "availability")
    fields.setdefault("target", 0.99)
    return SloSpec(name="api", **fields)


def calls(minutes_ago: float, total: int, errors: int, **fields: Any) -> list[Any]:
    """`total` spans `minutes_ago` before NOW, the first `errors` of them failed."""
    at = NOW - round(minutes_ago * MINUTE_NS)
    return [span(at, status="error" if n < errors else "ok", **fields) for n in range(total)]


async def test_counts_per_window_in_one_scan(store: AsyncEngine) -> None:
    await record(store, [
        *calls(2, 10, 5),  # inside 5 m, 1 h and 1 d
        *calls(30, 90, 3),  # inside 1 h and 1 d
        *calls(23 * 60, 100, 0),  # inside 1 d only
        *calls(2, 50, 50, tenant_id=B),
        *calls(25 * 60, 7, 7),  # older than every window
    ])  # fmt: skip
    counts = await slo_counts(store, A, slo(), NOW, [300, 3600, DAY_S])
    assert counts == {300: Counts(10, 5), 3600: Counts(100, 8), DAY_S: Counts(200, 8)}
    assert counts[3600].burn_rate(0.99) == pytest.approx(8.0)
    assert counts[300].burn_rate(0.99) == pytest.approx(50.0)
    assert Counts(0, 0).burn_rate(0.99) == 0.0


async def test_the_most_severe_alert_with_both_windows_burning_fires(store: AsyncEngine) -> None:
    # 1 h: 16 of 100 bad (burn 16); 5 m: 5 of 10 (burn 50): the 14.4x page fires.
    await record(store, [*calls(2, 10, 5), *calls(30, 90, 11)])
    spec = slo()
    counts = await slo_counts(store, A, spec, NOW, burn_windows(spec))
    found = slo_verdict(spec, counts)
    assert (found.firing, found.severity) == (True, "critical")
    assert (found.value, found.threshold) == (pytest.approx(16.0), 14.4)
    assert found.message == (
        "api: error budget burning at 16x over 1h and 50x over 5m (alert at 14.4x)"
    )
    assert [a["firing"] for a in found.details["burn_alerts"]] == [True, True, True, True]


async def test_a_long_burn_without_a_short_one_does_not_fire(store: AsyncEngine) -> None:
    # The fault is over: 1 h burns 20x but the last 5 minutes are clean.
    await record(store, [*calls(2, 10, 0), *calls(30, 90, 20)])
    spec = slo(burn_alerts=[BurnAlert(severity="critical", long_s=3600, short_s=300,
                                      burn_rate=14.4)])  # fmt: skip
    counts = await slo_counts(store, A, spec, NOW, burn_windows(spec))
    found = slo_verdict(spec, counts)
    assert (found.firing, found.severity, found.value) == (False, None, pytest.approx(20.0))
    entry = found.details["burn_alerts"][0]
    assert (entry["long_burn_rate"], entry["short_burn_rate"]) == (pytest.approx(20.0), 0.0)


async def test_a_slower_burn_opens_a_warning(store: AsyncEngine) -> None:
    # 4 % bad over the last day and its last 2 hours: burn 4, above 3 (warning), below 6.
    await record(store, [*calls(60, 50, 2), *calls(600, 50, 2)])
    spec = slo()
    counts = await slo_counts(store, A, spec, NOW, burn_windows(spec))
    found = slo_verdict(spec, counts)
    assert (found.firing, found.severity, found.threshold) == (True, "warning", 3.0)


async def test_status_over_the_period(store: AsyncEngine) -> None:
    await record(store, [*calls(10, 400, 2), *calls(3 * 24 * 60, 600, 3),
                         *calls(8 * 24 * 60, 500, 500)])  # fmt: skip
    spec = slo(period_days=7)
    counts = await slo_counts(store, A, spec, NOW, burn_windows(spec) | {7 * DAY_S})
    status = slo_status(spec, counts)
    assert (status["total"], status["good"], status["bad"]) == (1000, 995, 5)
    assert status["sli"] == 0.995
    assert status["error_budget"] == pytest.approx(10.0)  # 1 % of 1000
    assert status["error_budget_remaining"] == pytest.approx(0.5)
    assert status["firing"] is False


async def test_a_latency_objective_counts_slow_spans_as_bad(store: AsyncEngine) -> None:
    at = NOW - MINUTE_NS
    await record(
        store, [span(at, duration_ms=ms, status="error") for ms in (100, 200, 200.001, 900)]
    )
    spec = SloSpec(name="fast", objective="latency", target=0.9, threshold_ms=200)
    counts = await slo_counts(store, A, spec, NOW, [300])
    assert counts[300] == Counts(4, 2)  # 200 ms is good, 200.001 is not; errors do not count


async def test_the_scope_picks_the_model_alias(store: AsyncEngine) -> None:
    await record(
        store, [*calls(1, 4, 4, request_model="gpt-x"), *calls(1, 6, 1, request_model="other")]
    )
    spec = slo(scope={"model": "gpt-x"})
    assert (await slo_counts(store, A, spec, NOW, [300]))[300] == Counts(4, 4)


def test_objectives_are_checked() -> None:
    with pytest.raises(ValidationError, match="threshold_ms"):
        SloSpec(name="x", objective="latency", target=0.9)
    with pytest.raises(ValidationError, match="threshold_ms"):
        SloSpec(name="x", objective="availability", target=0.9, threshold_ms=5)
    with pytest.raises(ValidationError, match="short_s"):
        BurnAlert(severity="critical", long_s=300, short_s=300, burn_rate=2)
    with pytest.raises(ValidationError, match="target"):
        SloSpec(name="x", objective="availability", target=1)
