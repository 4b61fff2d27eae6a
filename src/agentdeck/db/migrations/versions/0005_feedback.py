"""Traces: the feedback table (scores and thumbs given to traces and spans).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the feedback table and its indexes."""
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("principal_id", sa.String(40), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16)),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("score", sa.Double),
        sa.Column("thumbs", sa.String(4)),
        sa.Column("comment", sa.Text),
        sa.Column("user_id", sa.String(256)),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    # Listing newest first within a tenant; joining to spans by (tenant, trace).
    op.create_index("ix_feedback_tenant_created", "feedback", ["tenant_id", "created_ns"])
    op.create_index("ix_feedback_tenant_trace", "feedback", ["tenant_id", "trace_id"])


def downgrade() -> None:
    """Drop the feedback table."""
    op.drop_table("feedback")
