"""Tenants, projects, teams, users and service accounts: created, listed and changed within
one tenant (a resource of another tenant is simply not found)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentdeck.errors import ConflictError, InvalidRequestError, NotFoundError
from agentdeck.identity.changes import Actor, Changes, new_id, one_or_none, utcnow
from agentdeck.identity.tables import principals, projects, team_members, teams, tenants

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PRINCIPAL_KINDS = ("user", "service")


def check_slug(value: str, param: str) -> str:
    """`value` if it is a slug (lower-case letters, digits, dashes), else a 400."""
    if not SLUG.match(value):
        raise InvalidRequestError(
            f"{param} must be 1-63 lower-case letters, digits or dashes, starting with a "
            f"letter or digit (got {value!r})",
            param=param,
        )
    return value


def check_name(value: str, param: str, longest: int = 200) -> str:
    """`value` if it fits its column (`longest` characters), else a 400."""
    if len(value) > longest:
        raise InvalidRequestError(f"{param} must be at most {longest} characters", param=param)
    return value


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready values: times as ISO 8601, keys as plain `str` (SQLAlchemy names
    columns with a `str` subclass, which orjson refuses as a key when audit digests a row)."""
    return {str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


async def insert_unique(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], what: str
) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(table.insert().values(**values))
    except sa.exc.IntegrityError as exc:
        raise ConflictError(f"{what} already exists") from exc


async def in_tenant(
    conn: AsyncConnection, table: sa.Table, tenant_id: str, row_id: str, what: str
) -> dict[str, Any]:
    """The row `row_id` of `table` if it belongs to `tenant_id`; else 404."""
    found = await one_or_none(
        conn, sa.select(table).where(table.c.id == row_id, table.c.tenant_id == tenant_id)
    )
    if found is None:
        raise NotFoundError(f"no {what} {row_id!r} in this tenant")
    return found


class Directory:
    """The who of identity."""

    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self._engine = changes.engine

    async def _list(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return [public(dict(row._mapping)) for row in await conn.execute(query)]

    async def _get(self, table: sa.Table, tenant_id: str, row_id: str, what: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            return public(await in_tenant(conn, table, tenant_id, row_id, what))

    # tenants
    async def create_tenant(self, actor: Actor, slug: str, name: str) -> dict[str, Any]:
        """A new tenant (its audit chain starts with its creation)."""
        row: dict[str, Any] = {
            "id": new_id("ten"),
            "slug": check_slug(slug, "slug"),
            "name": check_name(name, "name") or slug,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await insert_unique(change.conn, tenants, row, f"tenant {slug!r}")
            change.record("tenant.create", f"tenant/{row['id']}", after=public(row))
            change.record(
                "tenant.create", f"tenant/{row['id']}", after=public(row), tenant_id=row["id"]
            )
        return public(row)

    async def list_tenants(self) -> list[dict[str, Any]]:
        """Every tenant (platform operators only)."""
        return await self._list(sa.select(tenants).order_by(tenants.c.created_at))

    async def tenant(self, tenant_id: str) -> dict[str, Any]:
        """One tenant."""
        found = await self._list(sa.select(tenants).where(tenants.c.id == tenant_id))
        if not found:
            raise NotFoundError(f"no tenant {tenant_id!r}")
        return found[0]

    # projects
    async def create_project(self, actor: Actor, slug: str, name: str) -> dict[str, Any]:
        """A new project in the actor's tenant."""
        row = {
            "id": new_id("prj"),
            "tenant_id": actor.tenant_id,
            "slug": check_slug(slug, "slug"),
            "name": check_name(name, "name") or slug,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await insert_unique(change.conn, projects, row, f"project {slug!r}")
            change.record("project.create", f"project/{row['id']}", after=public(row))
        return public(row)

    async def list_projects(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's projects."""
        return await self._list(
            sa.select(projects).where(projects.c.tenant_id == tenant_id).order_by(projects.c.slug)
        )

    async def project(self, tenant_id: str, project_id: str) -> dict[str, Any]:
        """One project of the tenant."""
        return await self._get(projects, tenant_id, project_id, "project")

    # teams
    async def create_team(self, actor: Actor, project_id: str, name: str) -> dict[str, Any]:
        """A new team in one of the tenant's projects."""
        row = {
            "id": new_id("team"),
            "tenant_id": actor.tenant_id,
            "project_id": project_id,
            "name": name,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await in_tenant(change.conn, projects, actor.tenant_id, project_id, "project")
            await insert_unique(change.conn, teams, row, f"team {name!r}")
            change.record("team.create", f"team/{row['id']}", after=public(row))
        return public(row)

    async def list_teams(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's teams with their member ids."""
        found = await self._list(sa.select(teams).where(teams.c.tenant_id == tenant_id))
        members = await self._list(
            sa.select(team_members).where(team_members.c.tenant_id == tenant_id)
        )
        for team in found:
            team["members"] = sorted(
                m["principal_id"] for m in members if m["team_id"] == team["id"]
            )
        return found

    async def set_member(self, actor: Actor, team_id: str, principal_id: str, member: bool) -> None:
        """Add a principal to a team, or take it out."""
        async with self._changes.open(actor) as change:
            await in_tenant(change.conn, teams, actor.tenant_id, team_id, "team")
            await in_tenant(change.conn, principals, actor.tenant_id, principal_id, "principal")
            link = {"team_id": team_id, "principal_id": principal_id}
            if member:
                await insert_unique(
                    change.conn, team_members, {**link, "tenant_id": actor.tenant_id}, "membership"
                )
            else:
                done = await change.conn.execute(
                    team_members.delete().where(
                        team_members.c.team_id == team_id,
                        team_members.c.principal_id == principal_id,
                    )
                )
                if done.rowcount == 0:
                    raise NotFoundError(f"{principal_id!r} is not a member of team {team_id!r}")
            change.record(
                "team.member." + ("add" if member else "remove"), f"team/{team_id}", after=link
            )

    # principals
    async def create_principal(
        self, actor: Actor, kind: str, name: str, email: str | None = None
    ) -> dict[str, Any]:
        """A new user or service account."""
        if kind not in PRINCIPAL_KINDS:
            raise InvalidRequestError("kind must be 'user' or 'service'", param="kind")
        if not name or len(name) > 200:
            raise InvalidRequestError("name must be 1 to 200 characters", param="name")
        row = {
            "id": new_id("usr" if kind == "user" else "svc"),
            "tenant_id": actor.tenant_id,
            "kind": kind,
            "name": name,
            "email": check_name(email, "email", 320) if email else email,
            "disabled": False,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await insert_unique(change.conn, principals, row, f"{kind} {name!r}")
            change.record(f"{kind}.create", f"principal/{row['id']}", after=public(row))
        return public(row)

    async def list_principals(
        self, tenant_id: str, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The tenant's users and/or service accounts."""
        query = sa.select(principals).where(principals.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(principals.c.kind == kind)
        return await self._list(query.order_by(principals.c.name))

    async def principal(self, tenant_id: str, principal_id: str) -> dict[str, Any]:
        """One user or service account of the tenant."""
        return await self._get(principals, tenant_id, principal_id, "principal")

    async def set_disabled(self, actor: Actor, principal_id: str, disabled: bool) -> dict[str, Any]:
        """Disable a principal (its keys stop working everywhere) or enable it again."""
        async with self._changes.open(actor) as change:
            before = await in_tenant(
                change.conn, principals, actor.tenant_id, principal_id, "principal"
            )
            await change.conn.execute(
                principals.update().where(principals.c.id == principal_id).values(disabled=disabled)
            )
            after = {**before, "disabled": disabled}
            change.record(
                "principal." + ("disable" if disabled else "enable"),
                f"principal/{principal_id}",
                public(before),
                public(after),
            )
        return public(after)
