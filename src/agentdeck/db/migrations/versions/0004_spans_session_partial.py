"""Traces: the session index holds only spans that have a session; a `cache` column.

Most spans carry no session id; indexing them cost a B-tree insert per span for rows no
session query reads (measured in docs/performance.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HAS_SESSION = sa.text("session_id IS NOT NULL")


def upgrade() -> None:
    """Replace the session index by a partial one; add whether the response cache hit."""
    op.add_column("spans", sa.Column("cache", sa.String(8)))
    op.drop_index("ix_spans_tenant_session", "spans")
    op.create_index(
        "ix_spans_tenant_session",
        "spans",
        ["tenant_id", "session_id", "start_ns"],
        sqlite_where=_HAS_SESSION,
        postgresql_where=_HAS_SESSION,
    )


def downgrade() -> None:
    """Index every span's session again; drop the cache column."""
    op.drop_column("spans", "cache")
    op.drop_index("ix_spans_tenant_session", "spans")
    op.create_index("ix_spans_tenant_session", "spans", ["tenant_id", "session_id", "start_ns"])
