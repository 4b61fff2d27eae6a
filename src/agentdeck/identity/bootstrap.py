"""`agentdeck init`: the first tenant, project and owner with an owner key; and the development
principal that keyless requests act as while identity is off."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from agentdeck.errors import ConflictError
from agentdeck.identity.access_admin import AccessAdmin
from agentdeck.identity.changes import Actor, Changes
from agentdeck.identity.directory import Directory
from agentdeck.identity.keys import parse_key
from agentdeck.identity.tables import api_keys, principals, projects, role_bindings, tenants
from agentdeck.settings_identity import BootstrapSettings

SYSTEM = "system:init"


@dataclass(frozen=True, slots=True)
class InitResult:
    """What init found or made; `key` is set only when a key was created now."""

    tenant_id: str
    project_id: str
    principal_id: str
    created: bool
    key: str | None = None


async def _lookup(
    changes: Changes, table: sa.Table, column: str, value: str, tenant_id: str | None = None
) -> str | None:
    query = sa.select(table.c.id).where(table.c[column] == value)
    if tenant_id is not None:
        query = query.where(table.c.tenant_id == tenant_id)
    async with changes.engine.connect() as conn:
        found = await conn.scalar(query)
    return str(found) if found is not None else None


async def _ensure(
    changes: Changes, settings: BootstrapSettings, owner: str, made: list[str]
) -> InitResult:
    """Create what is missing; `made` collects what this run created, across retries."""
    directory, access = Directory(changes), AccessAdmin(changes)
    tenant_id = await _lookup(changes, tenants, "slug", settings.tenant)
    if tenant_id is None:
        tenant = await directory.create_tenant(Actor("-", SYSTEM), settings.tenant, settings.tenant)
        tenant_id = tenant["id"]
        made.append("tenant")
    as_system = Actor(tenant_id, SYSTEM)
    project_id = await _lookup(changes, projects, "slug", settings.project, tenant_id)
    if project_id is None:
        project_id = (await directory.create_project(as_system, settings.project, ""))["id"]
        made.append("project")
    principal_id = await _lookup(changes, principals, "name", owner, tenant_id)
    if principal_id is None:
        principal = await directory.create_principal(as_system, "user", owner, settings.owner_email)
        principal_id = principal["id"]
        made.append("owner")
    async with changes.engine.connect() as conn:
        bound = await conn.scalar(
            sa.select(role_bindings.c.id).where(
                role_bindings.c.principal_id == principal_id,
                role_bindings.c.role == "owner",
                role_bindings.c.project_id.is_(None),
            )
        )
    if bound is None:  # also mends an owner left without its role by an interrupted init
        await access.bind_role(as_system, principal_id, "owner", None)
    return InitResult(tenant_id, project_id, principal_id, bool(made))


async def _ensure_racing(changes: Changes, settings: BootstrapSettings, owner: str) -> InitResult:
    """`_ensure`, again after each conflict: a racing start created a row meanwhile, which the
    next try reads. Each of the four steps (tenant, project, owner, role) conflicts at most once."""
    made: list[str] = []
    for _ in range(4):
        try:
            return await _ensure(changes, settings, owner, made)
        except ConflictError:
            continue
    return await _ensure(changes, settings, owner, made)


async def initialize(
    changes: Changes,
    settings: BootstrapSettings,
    key_env: str,
    given_key: str | None = None,
    owner: str | None = None,
    new_key: bool = True,
) -> InitResult:
    """Create the tenant, project and owner where missing and an owner key: `given_key` when
    one was pre-generated (it must be a well-formed agentdeck key), else a fresh one.
    Concurrent first starts agree: the loser of a creation race reads the winner's rows."""
    owner = owner or settings.owner
    found = await _ensure_racing(changes, settings, owner)
    if not new_key:
        return found
    access = AccessAdmin(changes, key_env)
    as_system = Actor(found.tenant_id, SYSTEM)
    if given_key is not None:
        parsed = parse_key(given_key)
        if await _lookup(changes, api_keys, "hash", parsed.hash) is not None:
            return found  # installed by an earlier run: nothing to do
        try:
            await access.create_key(
                as_system, found.principal_id, found.project_id, "owner", given_key=given_key
            )
        except sa.exc.IntegrityError:
            if await _lookup(changes, api_keys, "hash", parsed.hash) is None:
                raise
            # a concurrent start installed it first
        return found
    _, key = await access.create_key(as_system, found.principal_id, found.project_id, "owner")
    return InitResult(found.tenant_id, found.project_id, found.principal_id, found.created, key)


async def dev_principal(changes: Changes, key_env: str) -> tuple[str, str]:
    """(principal id, project id) of the development caller: owner `dev` of the `default`
    tenant, created on first start."""
    settings = BootstrapSettings(tenant="default", project="default", owner="dev")
    found = await initialize(changes, settings, key_env, new_key=False)
    return found.principal_id, found.project_id
