"""Tools: the registry and approval requests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(40)
_ACTOR = sa.String(300)


def upgrade() -> None:
    """Create the tool and approval tables."""
    op.create_table(
        "tools",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("project_id", _ID),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_by", _ACTOR, nullable=False),
        sa.Column("updated_by", _ACTOR, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_tools"),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("args_hash", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("requested_by", _ID, nullable=False),
        sa.Column("requester", _ACTOR, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("expires_ns", sa.BigInteger, nullable=False),
        sa.Column("decided_by", _ACTOR),
        sa.Column("decided_ns", sa.BigInteger),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_tool_approvals"),
    )
    op.create_index(
        "ix_tool_approvals_tenant", "tool_approvals", ["tenant_id", "status", "created_ns"]
    )


def downgrade() -> None:
    """Drop the tool tables."""
    op.drop_table("tool_approvals")
    op.drop_table("tools")
