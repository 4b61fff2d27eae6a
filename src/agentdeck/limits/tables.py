"""The limits schema: stored limit rules and the spend ledger (built by migration 0002)."""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_TS = sa.DateTime(timezone=True)

limit_rules = sa.Table(
    "limit_rules",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("scope_kind", sa.String(16), nullable=False),  # tenant|project|team|user|key|model
    sa.Column("scope_id", sa.String(200), nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),  # requests | tokens | cost
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("period", sa.String(8), nullable=False),  # minute | day | month | total
    sa.Column("soft_percent", sa.Integer),  # cost only: emit an event when crossed
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint(
        "tenant_id", "scope_kind", "scope_id", "metric", "period", name="uq_limit_rules_target"
    ),
)
"""Rate limits (requests or tokens per minute) and budgets (micro-dollars per period)."""

spend_ledger = sa.Table(
    "spend_ledger",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("project_id", sa.String(40), nullable=False),
    sa.Column("principal_id", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(40), nullable=False),
    sa.Column("alias", sa.String(200), nullable=False),
    sa.Column("deployment", sa.String(200), nullable=False),
    sa.Column("input_tokens", sa.BigInteger, nullable=False),
    sa.Column("output_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Index("ix_spend_ledger_tenant_at", "tenant_id", "at"),
)
"""One row per paid call, written in batches off the request path."""
