"""The span as agentdeck stores it, and W3C trace context (`traceparent`).

A `Span` holds the GenAI facts queries need as fields and everything else as attributes; the
gateway builds one per call and OTLP ingest one per received span.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16

SPAN_KINDS = ("internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")


def new_trace_id() -> str:
    """A random 128-bit trace id, as 32 lowercase hex digits."""
    return os.urandom(16).hex()


def new_span_id() -> str:
    """A random 64-bit span id, as 16 lowercase hex digits."""
    return os.urandom(8).hex()


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
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    input_text: str | None = None
    output_text: str | None = None

    def row(self) -> dict[str, Any]:
        """The span as insert parameters of the `spans` table; text longer than its column
        (a client's model name, an OTLP attribute) is cut to fit rather than refused."""
        row = {name: getattr(self, name) for name in _COLUMNS}
        for name, length in COLUMN_LENGTHS.items():
            value = row[name]
            if value is not None and len(value) > length:
                row[name] = value[:length]
        row["duration_us"] = max(0, self.end_ns - self.start_ns) // 1000
        row["attributes"] = orjson.dumps(self.attributes, default=str).decode()
        row["events"] = orjson.dumps(self.events, default=str).decode()
        return row


_COLUMNS = tuple(name for name in Span.__dataclass_fields__ if name not in ("attributes", "events"))
# The bounded text columns of `tracing.tables.spans`, by name (kept equal by a test).
COLUMN_LENGTHS = {
    "tenant_id": 40, "trace_id": 32, "span_id": 16, "parent_span_id": 16, "project_id": 40,
    "name": 256, "kind": 16, "status": 8, "source": 16, "service": 256, "operation": 64,
    "provider": 64, "request_model": 256, "response_model": 256, "session_id": 256,
    "user_id": 256, "prompt_name": 256, "deployment": 256, "tool_name": 256, "tags": 1024,
}  # fmt: skip
