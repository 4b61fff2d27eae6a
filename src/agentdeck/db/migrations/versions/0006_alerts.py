"""Alerts and SLOs: channels, rules, events (history) and deliveries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(40)


def upgrade() -> None:
    """Create the four alert tables and their indexes."""
    op.create_table(
        "alert_channels",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(200)),
        sa.Column("secret_sealed", sa.LargeBinary),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_channels_tenant", "alert_channels", ["tenant_id"])
    op.create_table(
        "alert_rules",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("channel_ids", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("interval_s", sa.Integer, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("severity", sa.String(16)),
        sa.Column("last_value", sa.Double),
        sa.Column("last_evaluated_ns", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("next_eval_ns", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_rules_tenant", "alert_rules", ["tenant_id", "kind"])
    op.create_index("ix_alert_rules_due", "alert_rules", ["next_eval_ns"])
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("rule_id", _ID, nullable=False),
        sa.Column("rule_kind", sa.String(8), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("severity", sa.String(16)),
        sa.Column("value", sa.Double),
        sa.Column("threshold", sa.Double),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("at_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_events_tenant_at", "alert_events", ["tenant_id", "at_ns"])
    op.create_index("ix_alert_events_rule", "alert_events", ["tenant_id", "rule_id", "at_ns"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_ns", sa.BigInteger),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_ns"])
    op.create_index("ix_alert_deliveries_event", "alert_deliveries", ["tenant_id", "event_id"])


def downgrade() -> None:
    """Drop the alert tables."""
    for table in ("alert_deliveries", "alert_events", "alert_rules", "alert_channels"):
        op.drop_table(table)
