"""The identity schema: tenants, projects, teams, principals, roles, keys, credentials and the
audit log. Built by migration 0002; every query filters by tenant."""

from __future__ import annotations

import sqlalchemy as sa

from agentdeck.db.metadata import metadata

_TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(40), primary_key=True)


def _tenant(nullable: bool = False) -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=nullable)


tenants = sa.Table(
    "tenants",
    metadata,
    _id(),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)

projects = sa.Table(
    "projects",
    metadata,
    _id(),
    _tenant(),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint("tenant_id", "slug", name="uq_projects_tenant_slug"),
)

teams = sa.Table(
    "teams",
    metadata,
    _id(),
    _tenant(),
    sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint("tenant_id", "project_id", "name", name="uq_teams_project_name"),
)

principals = sa.Table(
    "principals",
    metadata,
    _id(),
    _tenant(),
    sa.Column("kind", sa.String(16), nullable=False),  # user | service
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_principals_tenant_name"),
)
"""Users and service accounts."""

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), primary_key=True),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), primary_key=True),
    _tenant(),
)

roles = sa.Table(
    "roles",
    metadata,
    _id(),
    _tenant(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("permissions", sa.JSON, nullable=False),  # ["models:use", ...]
    sa.Column("resources", sa.JSON, nullable=False),  # {"models": ["gpt-*"], "tools": [...]}
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),
)
"""Custom roles; the built-in ones live in code (`identity.rbac`)."""

role_bindings = sa.Table(
    "role_bindings",
    metadata,
    _id(),
    _tenant(),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id")),  # None: whole tenant
    sa.Column("created_at", _TS, nullable=False),
    sa.Index(
        "uq_role_bindings_grant",
        "principal_id",
        "role",
        sa.text("coalesce(project_id, '')"),
        unique=True,
    ),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    _tenant(),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("display", sa.String(64), nullable=False),
    sa.Column("allowed_models", sa.JSON),  # None: whatever the roles allow
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("expires_at", _TS),
    sa.Column("revoked_at", _TS),
    sa.Column("replaced_by", sa.String(40)),
)

tenant_keys = sa.Table(
    "tenant_keys",
    metadata,
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("master_key_id", sa.String(16), nullable=False),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
)
"""Each tenant's data key, wrapped (AES-GCM) by a master key from settings."""

credentials = sa.Table(
    "credentials",
    metadata,
    _tenant(),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),  # nonce + ciphertext
    sa.Column("updated_at", _TS, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_credentials"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("tenant_id", sa.String(40), nullable=False),  # "-": no tenant could be told
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("previous", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("resource", sa.String(300), nullable=False),
    sa.Column("before_digest", sa.String(64)),
    sa.Column("after_digest", sa.String(64)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("at", sa.String(40), nullable=False),  # ISO 8601, exactly as hashed
    sa.PrimaryKeyConstraint("tenant_id", "position", name="pk_audit_events"),
)
"""Append-only (on PostgreSQL, triggers refuse UPDATE, DELETE and TRUNCATE)."""

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
"""The last position and hash of each tenant's chain, so truncation shows."""

identity_revision = sa.Table(
    "identity_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
)
"""One row, bumped by every identity change: replicas poll it to drop cached keys."""
