"""One evaluation of a metric rule: the metric over the current window (and, for baseline and
anomaly rules, over the trailing windows before it, in the same query) and the verdict.

Windows are aligned to the evaluation time: the current one is [now - window, now) and the
trailing ones are the windows of the same size before it. Counts, tokens and cost of a window
without spans are 0; rates and latency percentiles of such a window (or of one with fewer than
`min_requests` spans) are no data, which leaves the rule's state as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agentdeck.tracing.aggregates import SECOND_NS, MetricsQueries, MetricsWindow
from agentdeck.tracing.alerts.models import MetricRuleSpec, Verdict

MIN_BASELINE_WINDOWS = 3  # trailing windows with spans needed before a baseline means anything
SD_FLOOR = 0.05  # an anomaly's deviation is at least 5 % of the mean (a flat history is not 0)

_ADDITIVE: dict[str, Callable[[dict[str, Any]], float]] = {
    "requests": lambda m: m["requests"],
    "errors": lambda m: m["errors"],
    "input_tokens": lambda m: m["input_tokens"],
    "output_tokens": lambda m: m["output_tokens"],
    "tokens": lambda m: m["input_tokens"] + m["output_tokens"],
    "cost_usd": lambda m: m["cost_micros"] / 1_000_000,
}
_RATES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "error_rate": lambda m: m["error_rate"],
    "latency_p50_ms": lambda m: m["latency_p50_ms"],
    "latency_p95_ms": lambda m: m["latency_p95_ms"],
    "latency_p99_ms": lambda m: m["latency_p99_ms"],
    "cache_hit_rate": lambda m: m["cache_hit_rate"],
    "tool_error_rate": lambda m: None if not m["tool_calls"] else 1 - m["tool_success_rate"],
}


def metric_value(spec: MetricRuleSpec, window: dict[str, Any] | None) -> float | None:
    """The rule's metric in one window's metrics (None: a window without spans), or None
    when it is no data."""
    if spec.metric in _ADDITIVE:
        return 0.0 if window is None else float(_ADDITIVE[spec.metric](window))
    if window is None:
        return None
    counted = window["tool_calls"] if spec.metric == "tool_error_rate" else window["requests"]
    if counted < max(spec.min_requests, 1):
        return None
    return _RATES[spec.metric](window)


async def evaluate_metric_rule(
    queries: MetricsQueries, tenant_id: str, spec: MetricRuleSpec, now_ns: int
) -> Verdict:
    """Evaluate `spec` over the tenant's spans that started before `now_ns`."""
    size_ns = spec.window_s * SECOND_NS
    count = spec.lookback_windows
    since = max(0, now_ns - count * size_ns)
    window = MetricsWindow(since, now_ns, spec.window_s, origin_ns=since or now_ns % size_ns)
    rows = await queries.span_metrics(tenant_id, spec.scope.span_filter(), window)
    by_window: dict[int, dict[str, Any]] = {
        (row["start_ns"] - window.origin_ns) // size_ns: row for row in rows
    }
    first = (since - window.origin_ns) // size_ns
    values = [metric_value(spec, by_window.get(first + n)) for n in range(count)]
    requests = [
        by_window[first + n]["requests"] if first + n in by_window else 0 for n in range(count)
    ]
    return verdict(spec, values[-1], values[:-1], requests[:-1])


def verdict(
    spec: MetricRuleSpec,
    value: float | None,
    trailing: list[float | None],
    trailing_requests: list[int],
) -> Verdict:
    """The verdict on the current window's `value` given the trailing windows' values."""
    details: dict[str, Any] = {"metric": spec.metric, "window_s": spec.window_s}
    if value is None:
        return Verdict(None, None, None, f"{spec.name}: no data for {spec.metric}", None, details)
    if spec.condition in ("above", "below"):
        limit = spec.threshold
        firing = value > limit if spec.condition == "above" else value < limit
    else:
        pairs = zip(trailing, trailing_requests, strict=True)
        history = [v for v, n in pairs if n and v is not None]
        if len(history) < MIN_BASELINE_WINDOWS:
            details["baseline_windows_with_data"] = len(history)
            message = f"{spec.name}: too little history for a baseline of {spec.metric}"
            return Verdict(None, value, None, message, None, details)
        # Windows without spans count as 0 for counts and cost (a quiet hour is part of the
        # average); for rates and latencies they say nothing and are left out.
        if spec.metric in _ADDITIVE:
            history = [0.0 if v is None else v for v in trailing]
        mean = math.fsum(history) / len(history)
        details["baseline_mean"] = mean
        if spec.condition == "above_baseline":
            limit = spec.threshold * mean
        else:
            deviation = math.sqrt(math.fsum((v - mean) ** 2 for v in history) / len(history))
            deviation = max(deviation, SD_FLOOR * abs(mean), 1e-12)
            details["baseline_sd"] = deviation
            details["z"] = (value - mean) / deviation
            limit = mean + spec.threshold * deviation
        firing = value > limit
    word = {"above": "above", "below": "below"}.get(spec.condition, "above")
    relation = word if firing else f"not {word}"
    message = f"{spec.name}: {spec.metric} is {_figure(value)}, {relation} {_figure(limit)}"
    return Verdict(firing, value, limit, message, spec.severity if firing else None, details)


def _figure(value: float) -> str:
    return f"{value:.6g}"
