"""The prompt registry's tables (built by migration 0007): prompts, their immutable versions,
their labels, and the history of every label move.

A prompt is keyed by (tenant, project, name). Its row is also its lock: every change of a
prompt first updates that row (a row lock on PostgreSQL, the write lock on SQLite), so version
numbers are handed out one after another and label moves never interleave. The primary key
of `prompt_versions` makes a duplicate number impossible even so. Times are integer
nanoseconds since the epoch, as on spans.
"""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_ID = sa.String(40)
_BIG = sa.BigInteger()
_NAME = sa.String(200)
_LABEL = sa.String(64)
_ACTOR = sa.String(300)


def _key() -> list[sa.Column[str]]:
    return [
        sa.Column("tenant_id", _ID, primary_key=True),
        sa.Column("project_id", _ID, primary_key=True),
        sa.Column("name", _NAME, primary_key=True),
    ]


prompts = sa.Table(
    "prompts",
    metadata,
    *_key(),
    sa.Column("type", sa.String(8), nullable=False),  # of the latest version
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_by", _ACTOR, nullable=False),
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("updated_ns", _BIG, nullable=False),
)
"""One row per prompt: its latest version number, and the lock of its changes."""

prompt_versions = sa.Table(
    "prompt_versions",
    metadata,
    *_key(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # JSON: the canonical content
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("author", _ACTOR, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False),
)
"""Every version of every prompt, never edited (but archived or not)."""

prompt_labels = sa.Table(
    "prompt_labels",
    metadata,
    *_key(),
    sa.Column("label", _LABEL, primary_key=True),
    sa.Column("target", sa.Text, nullable=False),  # JSON: {"version"} or {"splits"}
    sa.Column("protected", sa.Boolean, nullable=False),
    sa.Column("updated_by", _ACTOR, nullable=False),
    sa.Column("updated_ns", _BIG, nullable=False),
)
"""Where each label of a prompt points now."""

prompt_label_moves = sa.Table(
    "prompt_label_moves",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("project_id", _ID, nullable=False),
    sa.Column("name", _NAME, nullable=False),
    sa.Column("label", _LABEL, nullable=False),
    sa.Column("from_target", sa.Text),  # JSON; null: the label did not exist
    sa.Column("to_target", sa.Text),  # JSON; null: the label was deleted
    sa.Column("actor", _ACTOR, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("at_ns", _BIG, nullable=False),
    sa.Index("ix_prompt_label_moves_label", "tenant_id", "project_id", "name", "label", "id"),
)
"""Every move of every label (creation, move, rollback, deletion), in order."""
