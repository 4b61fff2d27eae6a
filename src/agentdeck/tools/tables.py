"""The tool tables (built by migration 0008): registered tools, and approval requests for
high-risk calls. Times are integer nanoseconds since the epoch, as on spans."""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_ID = sa.String(40)
_BIG = sa.BigInteger()
_ACTOR = sa.String(300)

tools = sa.Table(
    "tools",
    metadata,
    sa.Column("tenant_id", _ID, primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("project_id", _ID),  # null: every project of the tenant
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the spec as the API shows it
    sa.Column("created_by", _ACTOR, nullable=False),
    sa.Column("updated_by", _ACTOR, nullable=False),
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("updated_ns", _BIG, nullable=False),
)
"""One row per tool of a tenant."""

tool_approvals = sa.Table(
    "tool_approvals",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("project_id", _ID, nullable=False),
    sa.Column("tool", sa.String(64), nullable=False),
    sa.Column("args_hash", sa.String(64), nullable=False),
    sa.Column("arguments", sa.Text, nullable=False),  # JSON: what the approver is shown
    sa.Column("run_id", sa.String(200), nullable=False),  # "" when the call named no run
    sa.Column("requested_by", _ID, nullable=False),  # principal id
    sa.Column("requester", _ACTOR, nullable=False),  # as the audit log names it
    sa.Column("status", sa.String(16), nullable=False),  # pending|approved|denied|used
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("expires_ns", _BIG, nullable=False),
    sa.Column("decided_by", _ACTOR),
    sa.Column("decided_ns", _BIG),
    sa.Column("reason", sa.Text),
    sa.Index("ix_tool_approvals_tenant", "tenant_id", "status", "created_ns"),
)
"""One approval request: bound to a tool, the hash of its arguments, the run and requester;
used once; expired past `expires_ns` (shown as `expired`, never used)."""
