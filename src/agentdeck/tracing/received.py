"""What an OTLP trace export holds, once read from protobuf or JSON: spans (`ReceivedSpan`)
grouped by resource, and the spans rejected alone (OTLP's partial success)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agentdeck.errors import InvalidRequestError

KINDS = ("internal", "internal", "server", "client", "producer", "consumer")  # by enum value
STATUS_CODES = ("unset", "ok", "error")
MAX_DEPTH = 8  # nested arrays and key-value lists in one attribute value
MAX_TIME_NS = (1 << 63) - 1


class OtlpError(InvalidRequestError):
    """A payload that is not an OTLP trace export; the message names the problem."""


class UnsupportedMediaTypeError(OtlpError):
    """A body in a format OTLP/HTTP does not define (415, as the specification requires)."""

    status = 415


@dataclass(slots=True)
class ReceivedSpan:
    """One span as sent: ids in lowercase hex, times in ns, attributes as plain values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    scope: str | None = None


@dataclass(slots=True)
class ResourceSpans:
    """The spans of one resource (one service), with the resource's attributes."""

    resource: dict[str, Any]
    spans: list[ReceivedSpan]


@dataclass(slots=True)
class Export:
    """A decoded export request: the usable spans, and how many were rejected and why."""

    resources: list[ResourceSpans]
    rejected: int = 0
    reason: str | None = None

    @property
    def span_count(self) -> int:
        """Usable spans in the request."""
        return sum(len(group.spans) for group in self.resources)

    def reject(self, where: str, why: str) -> None:
        """Count one span rejected; the first reason is kept for the response."""
        self.rejected += 1
        if self.reason is None:
            self.reason = f"{where}: {why}"


def finite(number: float) -> float | str:
    """JSON has no NaN or infinity: those are kept as their names."""
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
