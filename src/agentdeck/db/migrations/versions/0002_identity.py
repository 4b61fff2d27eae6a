"""Identity: tenants, projects, teams, principals, roles, keys, limits, credentials, audit log,
spend ledger. On PostgreSQL the audit log refuses UPDATE, DELETE and TRUNCATE.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(40), primary_key=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False)


def _ref(name: str, table: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(40), sa.ForeignKey(f"{table}.id"), nullable=nullable)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", TS, nullable=False)


APPEND_ONLY = (
    """CREATE FUNCTION agentdeck_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP;
END $$""",
    """CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION agentdeck_audit_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION agentdeck_audit_append_only()""",
)


def upgrade() -> None:
    """Create the identity tables."""
    op.create_table(
        "tenants",
        _id(),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        _created(),
    )
    op.create_table(
        "projects",
        _id(),
        _tenant(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "slug", name="uq_projects_tenant_slug"),
    )
    op.create_table(
        "teams",
        _id(),
        _tenant(),
        _ref("project_id", "projects"),
        sa.Column("name", sa.String(200), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "project_id", "name", name="uq_teams_project_name"),
    )
    op.create_table(
        "principals",
        _id(),
        _tenant(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "name", name="uq_principals_tenant_name"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), primary_key=True),
        sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), primary_key=True),
        _tenant(),
    )
    op.create_table(
        "roles",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("permissions", sa.JSON, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),
    )
    op.create_table(
        "role_bindings",
        _id(),
        _tenant(),
        _ref("principal_id", "principals"),
        sa.Column("role", sa.String(64), nullable=False),
        _ref("project_id", "projects", nullable=True),
        _created(),
    )
    # NULL project (the whole tenant) must clash too: unique constraints treat NULLs as distinct.
    op.create_index(
        "uq_role_bindings_grant",
        "role_bindings",
        ["principal_id", "role", sa.text("coalesce(project_id, '')")],
        unique=True,
    )
    op.create_table(
        "api_keys",
        _id(),
        _tenant(),
        _ref("principal_id", "principals"),
        _ref("project_id", "projects"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("display", sa.String(64), nullable=False),
        sa.Column("allowed_models", sa.JSON),
        _created(),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
        sa.Column("replaced_by", sa.String(40)),
    )
    op.create_table(
        "limit_rules",
        _id(),
        _tenant(),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("soft_percent", sa.Integer),
        _created(),
        sa.UniqueConstraint(
            "tenant_id", "scope_kind", "scope_id", "metric", "period", name="uq_limit_rules_target"
        ),
    )
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "credentials",
        _tenant(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_credentials"),
    )
    op.create_table(
        "audit_events",
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("before_digest", sa.String(64)),
        sa.Column("after_digest", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "position", name="pk_audit_events"),
    )
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "identity_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO identity_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        "spend_ledger",
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
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_spend_ledger_tenant_at", "spend_ledger", ["tenant_id", "at"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    """Drop the identity tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_events CASCADE")
        op.execute("DROP FUNCTION agentdeck_audit_append_only()")
    else:
        op.drop_table("audit_events")
    for table in (
        "spend_ledger",
        "identity_revision",
        "audit_heads",
        "credentials",
        "tenant_keys",
        "limit_rules",
        "api_keys",
        "role_bindings",
        "roles",
        "team_members",
        "principals",
        "teams",
        "projects",
        "tenants",
    ):
        op.drop_table(table)
