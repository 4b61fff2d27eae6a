"""Metric rules evaluated over stored spans (SQLite, and PostgreSQL when configured): each
metric over exactly the trailing window, no data below `min_requests`, thresholds above and
below, k times the trailing average, anomalies in z, scopes and tenants kept apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.tracing.aggregates import MetricsQueries
from agentdeck.tracing.alerts.evaluate import evaluate_metric_rule, metric_value, verdict
from agentdeck.tracing.alerts.models import MetricRuleSpec
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from tests.unit.tracing.conftest import BASE_NS, SECOND_NS

A, B = "tenant-a", "tenant-b"
HOUR_NS = 3600 * SECOND_NS
NOW = BASE_NS + 100 * HOUR_NS  # evaluation time; windows end here
_count = iter(range(1, 10**9))


def span(start_ns: int, duration_ms: float = 10, **fields: Any) -> Span:
    """A span of tenant A (unless given) starting at `start_ns`."""
    n = next(_count)
    fields.setdefault("tenant_id", A)
    return Span(
        trace_id=f"{n:032x}", span_id=f"{n:016x}", name=f"span {n}", start_ns=start_ns,
        end_ns=start_ns + int(duration_ms * 1_000_000), **fields,
    )  # fmt: skip


async def record(engine: AsyncEngine, found: Sequence[Span]) -> None:
    """Store `found` through the recorder."""
    recorder = SpanRecorder(engine, interval_s=0.01)
    await recorder.start()
    assert recorder.record_all(list(found)) is True
    await recorder.stop()


def rule(**fields: Any) -> MetricRuleSpec:
    """A rule named r with `fields`."""
    return MetricRuleSpec(name="r", **fields)


async def run(engine: AsyncEngine, spec: MetricRuleSpec, tenant: str = A) -> Any:
    return await evaluate_metric_rule(MetricsQueries(engine), tenant, spec, NOW)


async def test_cost_per_hour_counts_exactly_the_last_hour(store: AsyncEngine) -> None:
    await record(store, [
        span(NOW - HOUR_NS, cost_micros=1_500_000),  # the window's first instant: in
        span(NOW - 1, cost_micros=1_000_000),  # its last nanosecond: in
        span(NOW - HOUR_NS - 1, cost_micros=9_000_000),  # a nanosecond early: out
        span(NOW, cost_micros=9_000_000),  # at the end: out
        span(NOW - 10, cost_micros=7_000_000, tenant_id=B),  # another tenant: out
    ])  # fmt: skip
    fired = await run(store, rule(metric="cost_usd", threshold=2.4, window_s=3600))
    assert (fired.firing, fired.value, fired.threshold) == (True, 2.5, 2.4)
    assert fired.severity == "warning"
    assert fired.message == "r: cost_usd is 2.5, above 2.4"
    calm = await run(store, rule(metric="cost_usd", threshold=2.5, window_s=3600))
    assert (calm.firing, calm.value, calm.severity) == (False, 2.5, None)
    other = await run(store, rule(metric="cost_usd", threshold=1, window_s=3600), tenant=B)
    assert (other.firing, other.value) == (True, 7.0)


async def test_error_rate_latency_and_tokens(store: AsyncEngine) -> None:
    at = NOW - 30 * SECOND_NS
    spans = [span(at, duration_ms=ms, status="error" if ms > 80 else "ok", input_tokens=10,
                  output_tokens=5) for ms in range(10, 110, 10)]  # fmt: skip
    await record(store, spans)
    window = {"window_s": 60, "threshold": 0.1}
    errors = await run(store, rule(metric="error_rate", **window))
    assert (errors.firing, errors.value) == (True, 0.2)  # 90 and 100 ms failed
    p95 = await run(store, rule(metric="latency_p95_ms", window_s=60, threshold=99))
    assert (p95.firing, p95.value) == (True, 100.0)  # nearest rank: the 10th of 10
    p50 = await run(store, rule(metric="latency_p50_ms", window_s=60, threshold=50))
    assert (p50.firing, p50.value) == (False, 50.0)
    tokens = await run(store, rule(metric="tokens", window_s=60, threshold=149))
    assert (tokens.firing, tokens.value) == (True, 150.0)
    requests = await run(store, rule(metric="requests", condition="below", window_s=60,
                                     threshold=11))  # fmt: skip
    assert (requests.firing, requests.value) == (True, 10.0)
    assert requests.message == "r: requests is 10, below 11"


async def test_fewer_spans_than_min_requests_is_no_data_for_rates(store: AsyncEngine) -> None:
    await record(store, [span(NOW - SECOND_NS, status="error") for _ in range(4)])
    thin = await run(store, rule(metric="error_rate", window_s=60, threshold=0.5, min_requests=5))
    assert (thin.firing, thin.value) == (None, None)
    assert thin.message == "r: no data for error_rate"
    enough = await run(store, rule(metric="error_rate", window_s=60, threshold=0.5, min_requests=4))
    assert (enough.firing, enough.value) == (True, 1.0)
    # A count is never "no data": an empty window is 0 requests.
    empty = await run(store, rule(metric="errors", window_s=10, threshold=0, min_requests=50,
                                  scope={"project_id": "none"}))  # fmt: skip
    assert (empty.firing, empty.value) == (False, 0.0)


async def test_tool_error_rate_counts_tool_calls_of_the_scoped_tool(store: AsyncEngine) -> None:
    at = NOW - SECOND_NS
    await record(store, [
        span(at, operation="execute_tool", tool_name="search", status="error"),
        span(at, operation="execute_tool", tool_name="search", status="ok"),
        span(at, operation="execute_tool", tool_name="search", status="ok"),
        span(at, operation="execute_tool", tool_name="search", status="error"),
        span(at, operation="execute_tool", tool_name="mail", status="error"),
        span(at, operation="chat", status="error"),  # not a tool call
    ])  # fmt: skip
    spec = rule(metric="tool_error_rate", window_s=60, threshold=0.4, scope={"tool": "search"})
    found = await run(store, spec)
    assert (found.firing, found.value) == (True, 0.5)
    every_tool = await run(store, rule(metric="tool_error_rate", window_s=60, threshold=0.6))
    assert (every_tool.firing, every_tool.value) == (False, 0.6)


def hourly_costs(costs_usd: Sequence[float]) -> list[Span]:
    """One span per hour, the last one in the current window, costing `costs_usd` in order."""
    count = len(costs_usd)
    return [
        span(NOW - (count - n) * HOUR_NS + 60 * SECOND_NS, cost_micros=round(usd * 1e6))
        for n, usd in enumerate(costs_usd)
    ]


async def test_cost_over_k_times_its_trailing_average(store: AsyncEngine) -> None:
    # 24 trailing hours: 12 at $1 and 12 without spans ($0): the average is $0.50.
    trailing = [1.0 if n % 2 else 0.0 for n in range(24)]
    await record(store, [s for s in hourly_costs([*trailing, 2.0]) if s.cost_micros])
    spec = rule(metric="cost_usd", condition="above_baseline", threshold=3.9, window_s=3600)
    fired = await run(store, spec)
    assert (fired.firing, fired.value, fired.threshold) == (True, 2.0, pytest.approx(1.95))
    assert fired.details["baseline_mean"] == 0.5
    calm = await run(store, spec.model_copy(update={"threshold": 4.0}))
    assert (calm.firing, calm.threshold) == (False, 2.0)


async def test_a_baseline_needs_three_trailing_windows_with_spans(store: AsyncEngine) -> None:
    await record(store, hourly_costs([1.0, 1.0, 50.0]))  # two trailing hours only
    spec = rule(metric="cost_usd", condition="above_baseline", threshold=2, window_s=3600)
    found = await run(store, spec)
    assert (found.firing, found.value, found.threshold) == (None, 50.0, None)
    assert found.details["baseline_windows_with_data"] == 2


async def test_token_usage_anomaly_in_standard_deviations(store: AsyncEngine) -> None:
    history = [100, 110, 90, 100, 110, 90]  # mean 100, population sd sqrt(200/3) = 8.165
    spans = [span(NOW - (7 - n) * HOUR_NS + SECOND_NS, input_tokens=t)
             for n, t in enumerate(history)]  # fmt: skip
    await record(store, [*spans, span(NOW - SECOND_NS, input_tokens=130)])
    spec = rule(metric="tokens", condition="anomaly", threshold=3, window_s=3600,
                baseline_windows=6)  # fmt: skip
    found = await run(store, spec)
    assert found.firing is True
    assert found.details["z"] == pytest.approx(30 / (200 / 3) ** 0.5)  # 3.674
    assert found.threshold == pytest.approx(100 + 3 * (200 / 3) ** 0.5)
    stricter = await run(store, spec.model_copy(update={"threshold": 4}))
    assert stricter.firing is False


def test_a_flat_history_has_a_deviation_floor_of_five_percent() -> None:
    spec = rule(metric="tokens", condition="anomaly", threshold=2, window_s=60, baseline_windows=4)
    flat = [1000.0] * 4
    assert verdict(spec, 1099, flat, [1] * 4).firing is False  # limit 1000 + 2 * 50
    assert verdict(spec, 1101, flat, [1] * 4).firing is True


def test_rates_leave_out_trailing_windows_without_spans() -> None:
    spec = rule(metric="error_rate", condition="above_baseline", threshold=2, window_s=60,
                baseline_windows=5)  # fmt: skip
    found = verdict(spec, 0.5, [0.1, None, 0.2, None, 0.3], [10, 0, 10, 0, 10])
    assert found.details["baseline_mean"] == pytest.approx(0.2)
    assert (found.firing, found.threshold) == (True, pytest.approx(0.4))


def test_metric_value_of_a_window() -> None:
    window = {"requests": 4, "errors": 1, "error_rate": 0.25, "input_tokens": 7,
              "output_tokens": 3, "cost_micros": 2_500_000, "tool_calls": 0,
              "tool_success_rate": None, "cache_hit_rate": None}  # fmt: skip
    assert metric_value(rule(metric="cost_usd", threshold=1), window) == 2.5
    assert metric_value(rule(metric="tokens", threshold=1), window) == 10
    assert metric_value(rule(metric="tool_error_rate", threshold=1), window) is None
    assert metric_value(rule(metric="cache_hit_rate", threshold=1), window) is None
    assert metric_value(rule(metric="cost_usd", threshold=1), None) == 0.0
    assert metric_value(rule(metric="error_rate", threshold=1), None) is None
