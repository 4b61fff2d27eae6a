"""What a key may do, read from the store once and then served from memory: the `Grant`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentdeck.identity.rbac import Access, Role, builtin_role
from agentdeck.identity.tables import (
    api_keys,
    principals,
    role_bindings,
    roles,
    team_members,
    tenants,
)
from agentdeck.limits.policy import LimitPlan, LimitRule, plan
from agentdeck.limits.tables import limit_rules


@dataclass(frozen=True, slots=True)
class Grant:
    """One authenticated caller: its key, principal, tenant, project, teams, access and limits.

    `denial` is set when the key exists but may not be used (revoked, expired, disabled user);
    it is cached like a grant, so refusing it needs no store either.
    """

    key_id: str
    tenant_id: str
    tenant_slug: str
    project_id: str
    principal_id: str
    principal_name: str
    principal_kind: str
    team_ids: tuple[str, ...] = ()
    access: Access = field(default_factory=lambda: Access(()))
    limits: LimitPlan = field(default_factory=LimitPlan)
    expires_at: float | None = None
    denial: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.principal_kind}:{self.principal_name}"

    def problem(self, now: float) -> str | None:
        """Why this grant cannot be used now, or None."""
        if self.denial is not None:
            return self.denial
        if self.expires_at is not None and now >= self.expires_at:
            return "API key expired"
        return None


def epoch(moment: datetime | None) -> float | None:
    """A stored time as seconds since the epoch (SQLite returns it without a zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def _roles(
    conn: AsyncConnection, tenant_id: str, principal_id: str, project_id: str
) -> list[Role]:
    names = list(
        await conn.scalars(
            sa.select(role_bindings.c.role).where(
                role_bindings.c.principal_id == principal_id,
                role_bindings.c.tenant_id == tenant_id,
                sa.or_(
                    role_bindings.c.project_id.is_(None), role_bindings.c.project_id == project_id
                ),
            )
        )
    )
    found = [role for name in names if (role := builtin_role(name)) is not None]
    custom = [name for name in names if builtin_role(name) is None]
    if custom:
        rows = await conn.execute(
            sa.select(roles.c.name, roles.c.permissions, roles.c.resources).where(
                roles.c.tenant_id == tenant_id, roles.c.name.in_(custom)
            )
        )
        for name, permissions, resources in rows:
            narrowed = {kind: tuple(patterns) for kind, patterns in (resources or {}).items()}
            found.append(Role(name, frozenset(permissions), narrowed))
    return found


async def limit_rules_of(conn: AsyncConnection, tenant_id: str) -> list[LimitRule]:
    """Every limit rule of a tenant."""
    rows = await conn.execute(sa.select(limit_rules).where(limit_rules.c.tenant_id == tenant_id))
    return [rule_from_row(row._mapping) for row in rows]


def rule_from_row(row: Any) -> LimitRule:
    """A stored limit rule as a `LimitRule`."""
    return LimitRule(
        id=row["id"],
        tenant_id=row["tenant_id"],
        scope_kind=row["scope_kind"],
        scope_id=row["scope_id"],
        metric=row["metric"],
        amount=int(row["amount"]),
        period=row["period"],
        soft_percent=row["soft_percent"],
    )


async def load_grant(conn: AsyncConnection, key_hash: str) -> Grant | None:
    """The grant of the key with this hash, or None when no such key exists."""
    k, p, t = api_keys.c, principals.c, tenants.c
    row = (
        await conn.execute(
            sa.select(
                k.id,
                k.tenant_id,
                k.project_id,
                k.principal_id,
                k.allowed_models,
                k.expires_at,
                k.revoked_at,
                p.name,
                p.kind,
                p.disabled,
                t.slug,
            )
            .join(principals, principals.c.id == k.principal_id)
            .join(tenants, tenants.c.id == k.tenant_id)
            .where(k.hash == key_hash)
        )
    ).one_or_none()
    if row is None:
        return None
    return await _grant(conn, row._mapping)


async def load_principal_grant(
    conn: AsyncConnection, principal_id: str, project_id: str, key_id: str
) -> Grant | None:
    """A grant for a principal without a key (the development-mode caller)."""
    p, t = principals.c, tenants.c
    row = (
        await conn.execute(
            sa.select(p.id.label("principal_id"), p.tenant_id, p.name, p.kind, p.disabled, t.slug)
            .join(tenants, tenants.c.id == p.tenant_id)
            .where(p.id == principal_id)
        )
    ).one_or_none()
    if row is None:
        return None
    fields = {
        **row._mapping,
        "id": key_id,
        "project_id": project_id,
        "allowed_models": None,
        "expires_at": None,
        "revoked_at": None,
    }
    return await _grant(conn, fields)


async def _grant(conn: AsyncConnection, row: Any) -> Grant:
    tenant_id, principal_id, project_id = row["tenant_id"], row["principal_id"], row["project_id"]
    team_ids = tuple(
        await conn.scalars(
            sa.select(team_members.c.team_id).where(team_members.c.principal_id == principal_id)
        )
    )
    denial = None
    if row["revoked_at"] is not None:
        denial = "API key revoked"
    elif row["disabled"]:
        denial = f"{row['kind']} {row['name']!r} is disabled"
    scopes = {
        "tenant": [tenant_id],
        "project": [project_id],
        "team": team_ids,
        "user": [principal_id],
        "key": [row["id"]],
    }
    allowed = row["allowed_models"]
    return Grant(
        key_id=row["id"],
        tenant_id=tenant_id,
        tenant_slug=row["slug"],
        project_id=project_id,
        principal_id=principal_id,
        principal_name=row["name"],
        principal_kind=row["kind"],
        team_ids=team_ids,
        access=Access(
            tuple(await _roles(conn, tenant_id, principal_id, project_id)),
            tuple(allowed) if allowed is not None else None,
        ),
        limits=plan(await limit_rules_of(conn, tenant_id), scopes),
        expires_at=epoch(row["expires_at"]),
        denial=denial,
    )
