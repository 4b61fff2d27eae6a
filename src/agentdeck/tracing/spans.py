"""The span as agentdeck stores it, and W3C trace context (`traceparent`).

A `Span` holds the GenAI facts queries need as fields and everything else as attributes; the
gateway builds one per call and OTLP ingest one per received span.
"""

from __future__ import annotations

import operator
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_MS_MASK = (1 << 48) - 1
# Ids need to be unique, not secret: a PRNG in process memory, as the OpenTelemetry SDK uses,
# instead of a system call per id (os.urandom measured at several microseconds under load).
# The module's generator is re-seeded in a forked child, so worker processes never share ids.
_bits = random.getrandbits

SPAN_KINDS = ("internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")


def new_trace_id() -> str:
    """A 128-bit trace id, as 32 lowercase hex digits: the wall clock in milliseconds (48 bits)
    then 80 random bits. W3C trace context asks for the rightmost 56 bits to be random; the
    time prefix makes the store's primary key grow at its end instead of at random places,
    which halves the cost of writing a span into a large table (docs/performance.md)."""
    return f"{time.time_ns() // 1_000_000 & _MS_MASK:012x}{_bits(80):020x}"


def new_span_id() -> str:
    """A random 64-bit span id, as 16 lowercase hex digits (never all zeros)."""
    return f"{_bits(64) or 1:016x}"


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) from a W3C `traceparent` header; None when it is absent or
    malformed (a new trace is started then, as the W3C recommendation says)."""
    if not value:
        return None
    found = _TRACEPARENT.fullmatch(value.strip().lower())
    if found is None or found.group(1) == _ZERO_TRACE or found.group(2) == _ZERO_SPAN:
        return None
    return found.group(1), found.group(2)


def traceparent(trace_id: str, span_id: str) -> str:
    """The `traceparent` header value naming a span (sampled)."""
    return f"00-{trace_id}-{span_id}-01"


@dataclass(slots=True)
class Span:
    """One span: identity, timing, status, GenAI facts, the rest as attributes."""

    tenant_id: str
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    project_id: str = ""
    kind: str = "internal"
    status: str = "unset"
    status_message: str | None = None
    source: str = "gateway"
    service: str | None = None
    operation: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_micros: int | None = None
    session_id: str | None = None
    user_id: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    deployment: str | None = None
    tool_name: str | None = None
    tags: str | None = None  # ",a,b," so that one tag is matched whole
    cache: str | None = None  # "hit" | "miss" when the response cache applied
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    input_text: str | None = None
    output_text: str | None = None

    def values(self) -> tuple[Any, ...]:
        """The span as one row of the `spans` table, in `ROW_COLUMNS` order; text longer than
        its column (a client's model name, an OTLP attribute) is cut to fit, not refused."""
        row: tuple[Any, ...] = _get_columns(self)
        for index, length in _BOUNDED:
            value = row[index]
            if value is not None and len(value) > length:
                row = _cut(row)
                break
        events = self.events
        return (*row, max(0, self.end_ns - self.start_ns) // 1000,
                orjson.dumps(self.attributes, default=str).decode(),
                orjson.dumps(events, default=str).decode() if events else "[]")  # fmt: skip

    def row(self) -> dict[str, Any]:
        """The span as insert parameters of the `spans` table, by column name."""
        return dict(zip(ROW_COLUMNS, self.values(), strict=True))


_COLUMNS = tuple(name for name in Span.__dataclass_fields__ if name not in ("attributes", "events"))
_get_columns = operator.attrgetter(*_COLUMNS)
ROW_COLUMNS = (*_COLUMNS, "duration_us", "attributes", "events")
"""The columns of a row of `Span.values()`, in order."""
# The bounded text columns of `tracing.tables.spans`, by name (kept equal by a test).
COLUMN_LENGTHS = {
    "tenant_id": 40, "trace_id": 32, "span_id": 16, "parent_span_id": 16, "project_id": 40,
    "name": 256, "kind": 16, "status": 8, "source": 16, "service": 256, "operation": 64,
    "provider": 64, "request_model": 256, "response_model": 256, "session_id": 256,
    "user_id": 256, "prompt_name": 256, "deployment": 256, "tool_name": 256, "tags": 1024,
    "cache": 8,
}  # fmt: skip
_BOUNDED = tuple((_COLUMNS.index(name), length) for name, length in COLUMN_LENGTHS.items())


def _cut(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` with every bounded text cut to its column's length."""
    cut = list(row)
    for index, length in _BOUNDED:
        value = cut[index]
        if value is not None and len(value) > length:
            cut[index] = value[:length]
    return tuple(cut)
