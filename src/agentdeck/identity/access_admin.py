"""Custom roles and role bindings, keys (create, rotate with overlap, revoke) and limit rules:
each change audited, each read confined to one tenant."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agentdeck.errors import ConflictError, InvalidRequestError, NotFoundError
from agentdeck.identity.changes import Actor, Changes, new_id, utcnow
from agentdeck.identity.directory import in_tenant, insert_unique, public
from agentdeck.identity.keys import hash_key, new_key, parse_key
from agentdeck.identity.rbac import BUILTIN_ROLES, RESOURCE_KINDS, check_permissions
from agentdeck.identity.tables import api_keys, principals, projects, role_bindings, roles, teams
from agentdeck.limits.policy import LimitRule
from agentdeck.limits.tables import limit_rules

_KEY_FIELDS = [c for c in api_keys.c if c.name != "hash"]
_SCOPE_TABLES = {"project": projects, "team": teams, "user": principals, "key": api_keys}


class AccessAdmin:
    """Roles, bindings, keys and limits of a tenant."""

    def __init__(self, changes: Changes, key_env: str = "live") -> None:
        self._changes = changes
        self._engine = changes.engine
        self._key_env = key_env

    async def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return [public(dict(row._mapping)) for row in await conn.execute(query)]

    # roles
    async def create_role(
        self, actor: Actor, name: str, permissions: list[str], resources: dict[str, list[str]]
    ) -> dict[str, Any]:
        """A custom role: permissions, optionally narrowed to named models, tools, agents."""
        if name in BUILTIN_ROLES:
            raise InvalidRequestError(f"{name!r} is a built-in role", param="name")
        unknown = check_permissions(permissions)
        if unknown:
            raise InvalidRequestError(
                f"unknown permissions: {', '.join(unknown)}", param="permissions"
            )
        bad_kinds = sorted(set(resources) - set(RESOURCE_KINDS))
        if bad_kinds:
            raise InvalidRequestError(
                f"resources may name {', '.join(RESOURCE_KINDS)}; not {', '.join(bad_kinds)}",
                param="resources",
            )
        row = {
            "id": new_id("role"),
            "tenant_id": actor.tenant_id,
            "name": name,
            "permissions": sorted(set(permissions)),
            "resources": resources,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await insert_unique(change.conn, roles, row, f"role {name!r}")
            change.record("role.create", f"role/{name}", after=public(row))
        return public(row)

    async def list_roles(self, tenant_id: str) -> list[dict[str, Any]]:
        """Built-in and custom roles."""
        builtin = [
            {"name": name, "permissions": sorted(perms), "resources": {}, "builtin": True}
            for name, perms in BUILTIN_ROLES.items()
        ]
        custom = await self._rows(sa.select(roles).where(roles.c.tenant_id == tenant_id))
        return builtin + [{**row, "builtin": False} for row in custom]

    async def bind_role(
        self, actor: Actor, principal_id: str, role: str, project_id: str | None
    ) -> dict[str, Any]:
        """Give a principal a role in the whole tenant or in one project."""
        row = {
            "id": new_id("bind"),
            "tenant_id": actor.tenant_id,
            "principal_id": principal_id,
            "role": role,
            "project_id": project_id,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            conn = change.conn
            await in_tenant(conn, principals, actor.tenant_id, principal_id, "principal")
            if project_id is not None:
                await in_tenant(conn, projects, actor.tenant_id, project_id, "project")
            if (
                role not in BUILTIN_ROLES
                and await conn.scalar(
                    sa.select(roles.c.id).where(
                        roles.c.tenant_id == actor.tenant_id, roles.c.name == role
                    )
                )
                is None
            ):
                raise NotFoundError(f"no role {role!r}")
            # Named here for a clear 409; the unique index (NULL projects coalesced) still
            # settles a race between two binders.
            twin = await conn.scalar(
                sa.select(role_bindings.c.id).where(
                    role_bindings.c.principal_id == principal_id,
                    role_bindings.c.role == role,
                    role_bindings.c.project_id.is_not_distinct_from(project_id),
                )
            )
            if twin is not None:
                raise ConflictError(f"that role binding already exists: {twin}")
            await insert_unique(conn, role_bindings, row, "that role binding")
            change.record("role.bind", f"principal/{principal_id}", after=public(row))
        return public(row)

    async def list_bindings(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every role binding of the tenant."""
        return await self._rows(
            sa.select(role_bindings).where(role_bindings.c.tenant_id == tenant_id)
        )

    async def unbind(self, actor: Actor, binding_id: str) -> None:
        """Take a role binding away."""
        async with self._changes.open(actor) as change:
            before = await in_tenant(
                change.conn, role_bindings, actor.tenant_id, binding_id, "role binding"
            )
            await change.conn.execute(
                role_bindings.delete().where(role_bindings.c.id == binding_id)
            )
            change.record("role.unbind", f"principal/{before['principal_id']}", public(before))

    # keys
    async def create_key(
        self,
        actor: Actor,
        principal_id: str,
        project_id: str,
        name: str,
        expires_at: datetime | None = None,
        allowed_models: list[str] | None = None,
        env: str | None = None,
        given_key: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new key for a principal in a project: (its record, the key, shown only now).
        `given_key` installs a pre-generated key instead of making one."""
        try:
            key = given_key or new_key(env or self._key_env)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), param="env") from exc
        parsed = parse_key(key)
        row = {
            "id": new_id("key"),
            "tenant_id": actor.tenant_id,
            "principal_id": principal_id,
            "project_id": project_id,
            "name": name or "key",
            "hash": hash_key(key),
            "display": parsed.display,
            "allowed_models": allowed_models,
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        async with self._changes.open(actor) as change:
            await in_tenant(change.conn, principals, actor.tenant_id, principal_id, "principal")
            await in_tenant(change.conn, projects, actor.tenant_id, project_id, "project")
            await change.conn.execute(api_keys.insert().values(**row))
            shown = public({k: v for k, v in row.items() if k != "hash"})
            change.record("key.create", f"key/{row['id']}", after=shown)
        return shown, key

    async def list_keys(
        self, tenant_id: str, principal_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The tenant's keys (never their hashes)."""
        query = sa.select(*_KEY_FIELDS).where(api_keys.c.tenant_id == tenant_id)
        if principal_id is not None:
            query = query.where(api_keys.c.principal_id == principal_id)
        return await self._rows(query.order_by(api_keys.c.created_at))

    async def key(self, tenant_id: str, key_id: str) -> dict[str, Any]:
        """One key of the tenant."""
        async with self._engine.connect() as conn:
            found = await in_tenant(conn, api_keys, tenant_id, key_id, "key")
        return public({k: v for k, v in found.items() if k != "hash"})

    async def revoke_key(self, actor: Actor, key_id: str) -> dict[str, Any]:
        """Revoke a key: refused on every replica within seconds."""
        async with self._changes.open(actor) as change:
            before = await in_tenant(change.conn, api_keys, actor.tenant_id, key_id, "key")
            if before["revoked_at"] is None:
                await change.conn.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=utcnow())
                )
            change.record("key.revoke", f"key/{key_id}", public(before))
        return await self.key(actor.tenant_id, key_id)

    async def rotate_key(
        self, actor: Actor, key_id: str, overlap_s: int
    ) -> tuple[dict[str, Any], str]:
        """A new key like `key_id`; the old one keeps working for `overlap_s` seconds."""
        if overlap_s < 0:
            raise InvalidRequestError("overlap_s must be zero or more", param="overlap_s")
        old = await self.key(actor.tenant_id, key_id)
        if old["revoked_at"] is not None:
            raise InvalidRequestError(f"key {key_id!r} is revoked; create a new one instead")
        created, key = await self.create_key(
            actor,
            old["principal_id"],
            old["project_id"],
            old["name"],
            allowed_models=old["allowed_models"],
        )
        async with self._changes.open(actor) as change:
            await change.conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id)
                .values(
                    expires_at=utcnow() + timedelta(seconds=overlap_s), replaced_by=created["id"]
                )
            )
            change.record(
                "key.rotate",
                f"key/{key_id}",
                old,
                {"replaced_by": created["id"], "overlap_s": overlap_s},
            )
        return created, key

    # limits
    async def set_limit(
        self, actor: Actor, rule: LimitRule, known_models: set[str]
    ) -> dict[str, Any]:
        """Create or replace the limit on (scope, metric, period)."""
        problems = rule.problems()
        if problems:
            raise InvalidRequestError("; ".join(problems))
        row = {
            "id": new_id("lim"),
            "tenant_id": actor.tenant_id,
            "scope_kind": rule.scope_kind,
            "scope_id": rule.scope_id,
            "metric": rule.metric,
            "amount": rule.amount,
            "period": rule.period,
            "soft_percent": rule.soft_percent,
            "created_at": utcnow(),
        }
        async with self._changes.open(actor) as change:
            await self._check_scope(change.conn, actor.tenant_id, rule, known_models)
            c = limit_rules.c
            target = (
                c.tenant_id == actor.tenant_id,
                c.scope_kind == rule.scope_kind,
                c.scope_id == rule.scope_id,
                c.metric == rule.metric,
                c.period == rule.period,
            )
            before = (
                await change.conn.execute(sa.select(limit_rules).where(*target))
            ).one_or_none()
            await change.conn.execute(limit_rules.delete().where(*target))
            await change.conn.execute(limit_rules.insert().values(**row))
            change.record(
                "limit.set",
                f"limit/{rule.scope_kind}/{rule.scope_id}/{rule.metric}",
                public(dict(before._mapping)) if before else None,
                public(row),
            )
        return public(row)

    async def _check_scope(
        self, conn: Any, tenant_id: str, rule: LimitRule, known_models: set[str]
    ) -> None:
        if rule.scope_kind == "tenant" and rule.scope_id != tenant_id:
            raise NotFoundError(f"no tenant {rule.scope_id!r} here: use your own tenant id")
        if rule.scope_kind == "model" and rule.scope_id not in known_models:
            raise NotFoundError(f"no model alias {rule.scope_id!r}")
        table = _SCOPE_TABLES.get(rule.scope_kind)
        if table is not None:
            await in_tenant(conn, table, tenant_id, rule.scope_id, rule.scope_kind)

    async def list_limits(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's rate limits and budgets."""
        return await self._rows(sa.select(limit_rules).where(limit_rules.c.tenant_id == tenant_id))

    async def delete_limit(self, actor: Actor, limit_id: str) -> None:
        """Remove a limit."""
        async with self._changes.open(actor) as change:
            before = await in_tenant(change.conn, limit_rules, actor.tenant_id, limit_id, "limit")
            await change.conn.execute(limit_rules.delete().where(limit_rules.c.id == limit_id))
            change.record("limit.delete", f"limit/{limit_id}", public(before))
