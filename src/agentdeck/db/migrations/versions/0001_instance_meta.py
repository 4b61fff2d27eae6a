"""Installation facts: the agentdeck_meta table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create agentdeck_meta."""
    op.create_table(
        "agentdeck_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_agentdeck_meta"),
    )


def downgrade() -> None:
    """Drop agentdeck_meta."""
    op.drop_table("agentdeck_meta")
