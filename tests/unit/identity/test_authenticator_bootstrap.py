"""Replicas starting together on an empty store each bootstrap the owner: they must agree on
one tenant, project, owner and owner key, which then authenticates as the owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.identity.audit_log import AuditQueue, verify_tenant
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.bootstrap import initialize
from agentdeck.identity.changes import Changes
from agentdeck.identity.keys import new_key
from agentdeck.identity.tables import api_keys, principals, projects, role_bindings, tenants
from agentdeck.kv import MemoryKV
from agentdeck.settings import DatabaseSettings
from agentdeck.settings_identity import BootstrapSettings

REPLICAS = 4


@pytest.fixture
async def engines(database_settings: DatabaseSettings) -> AsyncIterator[list[AsyncEngine]]:
    """One engine per replica on the same migrated store."""
    made = [create_engine(database_settings) for _ in range(REPLICAS)]
    await migrate(made[0])
    yield made
    for engine in made:
        await engine.dispose()


async def _count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("rounds", [1, 2], ids=["first-start", "and-a-restart"])
async def test_concurrent_first_starts_install_one_owner_and_key(
    engines: list[AsyncEngine], rounds: int
) -> None:
    key = new_key("test")
    settings = BootstrapSettings(tenant="acme", project="main", owner="root")
    runs = [
        await asyncio.gather(
            *(initialize(Changes(engine), settings, "test", key) for engine in engines)
        )
        for _ in range(rounds)
    ]
    results = [result for run in runs for result in run]

    assert len({(r.tenant_id, r.project_id, r.principal_id) for r in results}) == 1
    assert any(r.created for r in runs[0])  # the rows were made by one or more racers...
    assert not any(r.created for run in runs[1:] for r in run)  # ...and found on a restart
    assert {r.key for r in results} == {None}  # a given key is never handed back
    engine = engines[0]
    for table in (tenants, projects, principals, api_keys, role_bindings):
        assert await _count(engine, table) == 1, table.name
    async with engine.connect() as conn:
        role = await conn.scalar(sa.select(role_bindings.c.role))
    assert role == "owner"

    audit = AuditQueue(engine)
    auth = Authenticator(engine, MemoryKV(), audit, enabled=True)
    grant = await auth.authenticate({"x-api-key": key}, None)
    assert (grant.tenant_slug, grant.principal_name) == ("acme", "root")
    assert grant.access.allows("keys:manage")
    await audit.stop()
    verdict = await verify_tenant(engine, results[0].tenant_id)
    # tenant, project, owner, binding, key: five events, none doubled by the losers
    assert (verdict.ok, verdict.checked) == (True, 5)
