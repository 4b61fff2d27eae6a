"""The prompt registry: prompts, versions, labels and label moves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(40)
_NAME = sa.String(200)
_ACTOR = sa.String(300)


def _key() -> list[sa.Column[str]]:
    return [
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
    ]


def upgrade() -> None:
    """Create the four prompt tables and the label-history index."""
    op.create_table(
        "prompts",
        *_key(),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_by", _ACTOR, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "project_id", "name", name="pk_prompts"),
    )
    op.create_table(
        "prompt_versions",
        *_key(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("author", _ACTOR, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "project_id", "name", "version", name="pk_prompt_versions"
        ),
    )
    op.create_table(
        "prompt_labels",
        *_key(),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("updated_by", _ACTOR, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "project_id", "name", "label", name="pk_prompt_labels"
        ),
    )
    op.create_table(
        "prompt_label_moves",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("from_target", sa.Text),
        sa.Column("to_target", sa.Text),
        sa.Column("actor", _ACTOR, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("at_ns", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_prompt_label_moves_label",
        "prompt_label_moves",
        ["tenant_id", "project_id", "name", "label", "id"],
    )


def downgrade() -> None:
    """Drop the prompt tables."""
    for table in ("prompt_label_moves", "prompt_labels", "prompt_versions", "prompts"):
        op.drop_table(table)
