"""Prometheus metrics of one agentdeck process, in a registry owned by the app (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)


class Metrics:
    """Every metric agentdeck exports; `render()` gives the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "agentdeck_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "agentdeck_http_request_duration_seconds",
            "Time from request to the end of the response (whole stream included)",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.gateway_calls = Counter(
            "agentdeck_gateway_calls",
            "Model calls by alias, deployment and outcome",
            ["alias", "deployment", "outcome"],
            registry=r,
        )
        self.upstream_latency = Histogram(
            "agentdeck_gateway_upstream_duration_seconds",
            "Time the upstream took to answer (to the first event for streams)",
            ["deployment"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "agentdeck_gateway_tokens",
            "Tokens by deployment and direction",
            ["deployment", "direction"],
            registry=r,
        )
        self.cost = Counter(
            "agentdeck_gateway_cost_micros",
            "Cost in micro-dollars by deployment",
            ["deployment"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "agentdeck_gateway_upstream_errors",
            "Upstream failures by deployment and reason",
            ["deployment", "reason"],
            registry=r,
        )
        self.streams_open = Gauge(
            "agentdeck_gateway_streams_open", "Streams being relayed now", registry=r
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
