"""Traces: the spans table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG = sa.BigInteger()
NAME = sa.String(256)


def upgrade() -> None:
    """Create the spans table and its indexes."""
    op.create_table(
        "spans",
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("span_id", sa.String(16), primary_key=True),
        sa.Column("parent_span_id", sa.String(16)),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("service", NAME),
        sa.Column("start_ns", BIG, nullable=False),
        sa.Column("end_ns", BIG, nullable=False),
        sa.Column("duration_us", BIG, nullable=False),
        sa.Column("operation", sa.String(64)),
        sa.Column("provider", sa.String(64)),
        sa.Column("request_model", NAME),
        sa.Column("response_model", NAME),
        sa.Column("input_tokens", BIG),
        sa.Column("output_tokens", BIG),
        sa.Column("cost_micros", BIG),
        sa.Column("session_id", NAME),
        sa.Column("user_id", NAME),
        sa.Column("prompt_name", NAME),
        sa.Column("prompt_version", sa.Integer),
        sa.Column("deployment", NAME),
        sa.Column("tool_name", NAME),
        sa.Column("tags", sa.String(1024)),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("input_text", sa.Text),
        sa.Column("output_text", sa.Text),
        sa.PrimaryKeyConstraint("tenant_id", "trace_id", "span_id", name="pk_spans"),
    )
    op.create_index("ix_spans_tenant_start", "spans", ["tenant_id", "start_ns"])
    op.create_index("ix_spans_tenant_session", "spans", ["tenant_id", "session_id", "start_ns"])


def downgrade() -> None:
    """Drop the spans table."""
    op.drop_table("spans")
