"""The alert store (built by migration 0006): webhook channels, rules (metric rules and SLOs
alike), the history of what fired and resolved, and one delivery per event and channel.

Times are integer nanoseconds since the epoch, as on spans. A rule's `next_eval_ns` is also
its claim: a replica takes a due rule by moving it forward with a compare-and-set, so a rule is
evaluated once per interval however many replicas run. Deliveries are claimed the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_ID = sa.String(40)
_BIG = sa.BigInteger()

alert_channels = sa.Table(
    "alert_channels",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    # The signing secret: sealed with the tenant's data key when a master key is configured
    # (`secret_sealed`), else kept as is (`secret`); exactly one of them is set.
    sa.Column("secret", sa.String(200)),
    sa.Column("secret_sealed", sa.LargeBinary),
    sa.Column("created_by", sa.String(300), nullable=False),
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("updated_ns", _BIG, nullable=False),
    sa.Index("ix_alert_channels_tenant", "tenant_id"),
)
"""Webhook endpoints that alert events are delivered to."""

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # metric | slo
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the rule or objective as given
    sa.Column("channel_ids", sa.Text, nullable=False),  # JSON array
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("interval_s", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # ok | firing
    sa.Column("severity", sa.String(16)),  # of the firing state
    sa.Column("last_value", sa.Double),
    sa.Column("last_evaluated_ns", _BIG),
    sa.Column("last_error", sa.Text),
    sa.Column("next_eval_ns", _BIG, nullable=False),
    sa.Column("created_by", sa.String(300), nullable=False),
    sa.Column("created_ns", _BIG, nullable=False),
    sa.Column("updated_ns", _BIG, nullable=False),
    sa.Index("ix_alert_rules_tenant", "tenant_id", "kind"),
    sa.Index("ix_alert_rules_due", "next_eval_ns"),
)
"""Metric rules and SLOs of every tenant."""

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("rule_id", _ID, nullable=False),
    sa.Column("rule_kind", sa.String(8), nullable=False),
    sa.Column("rule_name", sa.String(200), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # firing | resolved
    sa.Column("severity", sa.String(16)),
    sa.Column("value", sa.Double),
    sa.Column("threshold", sa.Double),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON object
    sa.Column("at_ns", _BIG, nullable=False),
    sa.Index("ix_alert_events_tenant_at", "tenant_id", "at_ns"),
    sa.Index("ix_alert_events_rule", "tenant_id", "rule_id", "at_ns"),
)
"""The alert history: each time a rule starts firing, changes severity or resolves."""

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("tenant_id", _ID, nullable=False),
    sa.Column("event_id", _ID, nullable=False),
    sa.Column("channel_id", _ID, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_ns", _BIG, nullable=False),
    sa.Column("last_status", sa.Integer),  # the receiver's HTTP status of the last attempt
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_ns", _BIG),
    sa.Index("ix_alert_deliveries_due", "status", "next_attempt_ns"),
    sa.Index("ix_alert_deliveries_event", "tenant_id", "event_id"),
)
"""One row per (event, channel): the webhook delivery and its retries."""
