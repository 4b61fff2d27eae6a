"""Prometheus metrics of one agentdeck process, in a registry owned by the app (no globals)."""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

M = TypeVar("M", bound=MetricWrapperBase)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                    1, 2.5, 5, 10, 30, 60, 120)  # fmt: skip


class Labelled(Generic[M]):
    """A labelled metric whose children are looked up once: `labels()` in prometheus_client
    takes a lock and builds a key on every call, which the hot path would pay per request.
    Label values must come from bounded sets (routes, aliases, deployments, statuses)."""

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        """The child for these label values."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    """Every metric agentdeck exports; `render()` gives the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: list[str]) -> Labelled[Counter]:
            return Labelled(Counter(name, doc, labels, registry=self.registry))

        def histogram(name: str, doc: str, labels: list[str]) -> Labelled[Histogram]:
            return Labelled(
                Histogram(name, doc, labels, buckets=_LATENCY_BUCKETS, registry=self.registry)
            )

        self.http_requests = counter(
            "agentdeck_http_requests", "HTTP requests answered", ["route", "method", "status"]
        )
        self.http_latency = histogram(
            "agentdeck_http_request_duration_seconds",
            "Time from request to the end of the response (whole stream included)",
            ["route"],
        )
        self.gateway_calls = counter(
            "agentdeck_gateway_calls",
            "Model calls by alias, deployment and outcome",
            ["alias", "deployment", "outcome"],
        )
        self.upstream_latency = histogram(
            "agentdeck_gateway_upstream_duration_seconds",
            "Time the upstream took to answer (to the first event for streams)",
            ["deployment"],
        )
        self.tokens = counter(
            "agentdeck_gateway_tokens", "Tokens by deployment and direction",
            ["deployment", "direction"],
        )  # fmt: skip
        self.cost = counter(
            "agentdeck_gateway_cost_micros", "Cost in micro-dollars by deployment", ["deployment"]
        )
        self.upstream_errors = counter(
            "agentdeck_gateway_upstream_errors",
            "Upstream failures by deployment and reason",
            ["deployment", "reason"],
        )
        self.breaker_state = Labelled(
            Gauge(
                "agentdeck_gateway_breaker_state",
                "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
                ["deployment"],
                registry=self.registry,
            )
        )
        self.retries = counter(
            "agentdeck_gateway_retries", "Attempts after the first, by alias and failure kind",
            ["alias", "kind"],
        )  # fmt: skip
        self.fallbacks = counter(
            "agentdeck_gateway_fallbacks", "Fallbacks from one alias to another, by failure kind",
            ["from_alias", "to_alias", "kind"],
        )  # fmt: skip
        self.shadow_calls = counter(
            "agentdeck_gateway_shadow_calls", "Mirrored calls by shadow deployment and outcome",
            ["deployment", "outcome"],
        )  # fmt: skip
        self.dropped = counter(
            "agentdeck_records_dropped",
            "Spend, audit or span records dropped because a queue was full",
            ["queue"],
        )  # fmt: skip
        self.otlp_spans = counter(
            "agentdeck_otlp_spans", "Spans received over OTLP: accepted, rejected (malformed "
            "span) or refused (queue full, 503)", ["outcome"],
        )  # fmt: skip
        self.otlp_export = counter(
            "agentdeck_otlp_export_spans", "Spans forwarded to the external collector: sent, "
            "rejected (by the collector's partial success), failed (given up after retries, or "
            "refused) or dropped (export queue full, or still queued when a stop ran out of "
            "time)", ["outcome"],
        )  # fmt: skip
        self.alert_evaluations = counter(
            "agentdeck_alert_evaluations", "Alert rule and SLO evaluations: ok (no change), "
            "fired, resolved or failed (the store or the rule could not be read)", ["outcome"],
        )  # fmt: skip
        self.alert_deliveries = counter(
            "agentdeck_alert_deliveries", "Webhook delivery attempts: delivered, retried "
            "(timeout, connection, 408/425/429/5xx) or failed (other answer, or attempts spent)",
            ["outcome"],
        )  # fmt: skip
        self.guardrail_verdicts = counter(
            "agentdeck_guardrail_verdicts", "Guardrail verdicts by guardrail, stage (input, "
            "output, stream) and action (allow, once per stage of a call; flag, redact, block, "
            "per text); guardrail errors are action `error`", ["guardrail", "stage", "action"],
        )  # fmt: skip
        self.budget_thresholds = counter(
            "agentdeck_budget_thresholds_crossed", "Soft budget thresholds crossed, by scope kind",
            ["scope_kind"],
        )  # fmt: skip
        self.tool_calls = counter(
            "agentdeck_tool_calls", "Tool calls through the executor by outcome: ok, or the "
            "error type (not_allowed, approval_required, timeout, upstream_error, ...)",
            ["outcome"],
        )  # fmt: skip
        self.streams_open = Gauge(
            "agentdeck_gateway_streams_open", "Streams being relayed now", registry=self.registry
        )

    def add_collector(self, collector: Collector) -> None:
        """Export what `collector` reads at each scrape (for state held elsewhere)."""
        self.registry.register(collector)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
