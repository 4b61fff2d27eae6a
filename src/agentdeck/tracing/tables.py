"""The trace store: one row per span, whatever its source (built by migration 0003).

The GenAI facts that queries filter and group by (operation, provider, models, tokens, cost,
session, user, prompt version, deployment, tool) are columns; everything else a span carries
stays in `attributes` and `events` (JSON text). Times are integer nanoseconds since the epoch,
as OTLP has them, so both engines order and compare them exactly.
"""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_BIG = sa.BigInteger()
_NAME = sa.String(256)
_HAS_SESSION = sa.text("session_id IS NOT NULL")  # most spans have none (migration 0004)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_span_id", sa.String(16)),
    sa.Column("project_id", sa.String(40), nullable=False),
    sa.Column("name", _NAME, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # internal|server|client|producer|consumer
    sa.Column("status", sa.String(8), nullable=False),  # unset | ok | error
    sa.Column("status_message", sa.Text),
    sa.Column("source", sa.String(16), nullable=False),  # gateway | otlp
    sa.Column("service", _NAME),  # service.name of the resource
    sa.Column("start_ns", _BIG, nullable=False),
    sa.Column("end_ns", _BIG, nullable=False),
    sa.Column("duration_us", _BIG, nullable=False),
    sa.Column("operation", sa.String(64)),  # gen_ai.operation.name
    sa.Column("provider", sa.String(64)),  # gen_ai.provider.name
    sa.Column("request_model", _NAME),
    sa.Column("response_model", _NAME),
    sa.Column("input_tokens", _BIG),
    sa.Column("output_tokens", _BIG),
    sa.Column("cost_micros", _BIG),
    sa.Column("session_id", _NAME),
    sa.Column("user_id", _NAME),  # hashed unless the project keeps raw ids
    sa.Column("prompt_name", _NAME),
    sa.Column("prompt_version", sa.Integer),
    sa.Column("deployment", _NAME),
    sa.Column("tool_name", _NAME),
    sa.Column("tags", sa.String(1024)),  # ",a,b,": each tag matched whole
    sa.Column("cache", sa.String(8)),  # hit | miss; NULL when no cache applied (0004)
    sa.Column("attributes", sa.Text, nullable=False),  # JSON object
    sa.Column("events", sa.Text, nullable=False),  # JSON array
    sa.Column("input_text", sa.Text),  # captured content, when the project allows it
    sa.Column("output_text", sa.Text),
    sa.Index("ix_spans_tenant_start", "tenant_id", "start_ns"),
    sa.Index(
        "ix_spans_tenant_session",
        "tenant_id",
        "session_id",
        "start_ns",
        sqlite_where=_HAS_SESSION,
        postgresql_where=_HAS_SESSION,
    ),
)
"""Spans of every tenant; a trace is the spans sharing a trace id within one tenant."""
