"""Provider credentials at rest: sealed per tenant and name, master keys that rotate, and no
value ever leaving the vault except through `reveal` (not in listings, not in the audit log)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.errors import ConfigurationError, InvalidRequestError, NotFoundError
from agentdeck.identity.audit_log import verify_tenant
from agentdeck.identity.changes import Actor, Changes
from agentdeck.identity.directory import Directory
from agentdeck.identity.tables import audit_events, credentials, tenant_keys
from agentdeck.identity.vault import Vault, key_id, parse_master_keys
from agentdeck.settings import DatabaseSettings

OLD, NEW, OTHER = (os.urandom(32) for _ in range(3))
SECRET_A, SECRET_B = "sk-live-alpha-0123456789abcdef", "sk-live-bravo-fedcba9876543210"


@dataclass
class World:
    engine: AsyncEngine
    changes: Changes
    a: Actor
    b: Actor


@pytest.fixture
async def world(database_settings: DatabaseSettings) -> AsyncIterator[World]:
    """Two tenants in a migrated store."""
    engine = create_engine(database_settings)
    await migrate(engine)
    changes = Changes(engine)
    directory = Directory(changes)
    system = Actor("-", "system:test")
    a = await directory.create_tenant(system, "acme", "Acme")
    b = await directory.create_tenant(system, "globex", "Globex")
    yield World(engine, changes, Actor(a["id"], "user:alice"), Actor(b["id"], "user:bob"))
    await engine.dispose()


async def _row(engine: AsyncEngine, table: sa.Table, tenant_id: str) -> dict[str, object]:
    async with engine.connect() as conn:
        found = await conn.execute(sa.select(table).where(table.c.tenant_id == tenant_id))
        return dict(found.one()._mapping)


async def test_put_then_reveal_round_trips_and_put_bumps_the_version(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    assert await vault.put(world.a, "openai", SECRET_A) == {"name": "openai", "version": 1}
    assert await vault.reveal(world.a.tenant_id, "openai") == SECRET_A
    assert await Vault(world.changes, [OLD]).reveal(world.a.tenant_id, "openai") == SECRET_A

    assert await vault.put(world.a, "openai", SECRET_B) == {"name": "openai", "version": 2}
    assert await vault.reveal(world.a.tenant_id, "openai") == SECRET_B  # not the cached one
    assert await vault.put(world.a, "openai", SECRET_A) == {"name": "openai", "version": 3}
    listed = await vault.names(world.a.tenant_id)
    assert [(c["name"], c["version"]) for c in listed] == [("openai", 3)]
    assert await vault.names(world.b.tenant_id) == []
    with pytest.raises(NotFoundError, match="no credential 'openai'"):
        await vault.reveal(world.b.tenant_id, "openai")


async def test_stored_values_are_sealed_and_listings_never_hold_them(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    await vault.put(world.a, "openai", SECRET_A)
    await vault.put(world.a, "anthropic", SECRET_B)

    listed = await vault.names(world.a.tenant_id)
    assert [sorted(c) for c in listed] == [["name", "updated_at", "version"]] * 2
    assert [c["name"] for c in listed] == ["anthropic", "openai"]
    assert SECRET_A not in repr(listed)
    assert SECRET_B not in repr(listed)
    async with world.engine.connect() as conn:
        sealed = list(await conn.scalars(sa.select(credentials.c.sealed)))
        wrapped = await conn.scalar(sa.select(tenant_keys.c.wrapped))
    assert len(sealed) == 2
    for blob in sealed:
        assert SECRET_A.encode() not in blob
        assert SECRET_B.encode() not in blob
        assert len(blob) == 12 + len(SECRET_A) + 16  # nonce, ciphertext, tag
    assert len(wrapped or b"") == 12 + 32 + 16  # nonce, data key, tag


async def test_values_never_reach_the_audit_log(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    await vault.put(world.a, "openai", SECRET_A)
    await vault.put(world.a, "openai", SECRET_B)
    await vault.delete(world.a, "openai")

    async with world.engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(sa.select(audit_events))]
    mine = [r for r in rows if r["tenant_id"] == world.a.tenant_id]
    assert [(r["action"], r["resource"]) for r in mine][-3:] == [
        ("credential.put", "credential/openai"),
        ("credential.put", "credential/openai"),
        ("credential.delete", "credential/openai"),
    ]
    dumped = repr(rows)
    for secret in (SECRET_A, SECRET_B):
        assert secret not in dumped
        assert secret[8:20] not in dumped  # not even a fragment
    assert (await verify_tenant(world.engine, world.a.tenant_id)).ok


async def test_a_sealed_value_copied_to_another_tenant_does_not_open(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    await vault.put(world.a, "openai", SECRET_A)
    await vault.put(world.b, "openai", SECRET_B)  # tenant b has its own data key and row
    stolen = (await _row(world.engine, credentials, world.a.tenant_id))["sealed"]
    async with world.engine.begin() as conn:
        await conn.execute(
            credentials.update()
            .where(credentials.c.tenant_id == world.b.tenant_id, credentials.c.name == "openai")
            .values(sealed=stolen)
        )

    with pytest.raises(ConfigurationError, match=r"'openai' does not decrypt .*tampered or copied"):
        await Vault(world.changes, [OLD]).reveal(world.b.tenant_id, "openai")
    assert await Vault(world.changes, [OLD]).reveal(world.a.tenant_id, "openai") == SECRET_A


async def test_a_sealed_value_moved_to_another_name_does_not_open(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    await vault.put(world.a, "openai", SECRET_A)
    await vault.put(world.a, "backup", SECRET_B)
    async with world.engine.begin() as conn:
        openai = await conn.scalar(
            sa.select(credentials.c.sealed).where(credentials.c.name == "openai")
        )
        await conn.execute(
            credentials.update().where(credentials.c.name == "backup").values(sealed=openai)
        )
    with pytest.raises(ConfigurationError, match="tampered or copied"):
        await Vault(world.changes, [OLD]).reveal(world.a.tenant_id, "backup")


async def test_a_data_key_copied_to_another_tenant_does_not_open(world: World) -> None:
    vault = Vault(world.changes, [OLD])
    await vault.put(world.a, "openai", SECRET_A)
    await vault.put(world.b, "openai", SECRET_B)
    wrapped_a = (await _row(world.engine, tenant_keys, world.a.tenant_id))["wrapped"]
    async with world.engine.begin() as conn:
        await conn.execute(
            tenant_keys.update()
            .where(tenant_keys.c.tenant_id == world.b.tenant_id)
            .values(wrapped=wrapped_a)
        )
    with pytest.raises(ConfigurationError, match="tampered or copied"):
        await Vault(world.changes, [OLD]).reveal(world.b.tenant_id, "openai")


async def test_a_wrong_master_key_does_not_open(world: World) -> None:
    await Vault(world.changes, [OLD]).put(world.a, "openai", SECRET_A)
    with pytest.raises(ConfigurationError, match=f"wrapped by master key {key_id(OLD)}, which is"):
        await Vault(world.changes, [OTHER]).reveal(world.a.tenant_id, "openai")
    with pytest.raises(ConfigurationError, match="credential store is off"):
        await Vault(world.changes, []).put(world.a, "openai", SECRET_B)
    with pytest.raises(InvalidRequestError, match="needs a name"):
        await Vault(world.changes, [OLD]).put(world.a, "openai", "")


async def test_master_key_rotation_moves_every_tenant(world: World) -> None:
    await Vault(world.changes, [OLD]).put(world.a, "openai", SECRET_A)
    await Vault(world.changes, [OLD]).put(world.b, "openai", SECRET_B)

    both = Vault(world.changes, [NEW, OLD])
    assert await both.reveal(world.a.tenant_id, "openai") == SECRET_A  # before rewrap too
    assert await both.rewrap() == 2
    assert await both.rewrap() == 0
    for tenant in (world.a, world.b):
        row = await _row(world.engine, tenant_keys, tenant.tenant_id)
        assert row["master_key_id"] == key_id(NEW)

    only_new = Vault(world.changes, [NEW])
    assert await only_new.reveal(world.a.tenant_id, "openai") == SECRET_A
    assert await only_new.reveal(world.b.tenant_id, "openai") == SECRET_B
    assert await only_new.put(world.a, "openai", "sk-after") == {"name": "openai", "version": 2}
    assert await Vault(world.changes, [NEW]).reveal(world.a.tenant_id, "openai") == "sk-after"
    with pytest.raises(ConfigurationError, match=f"master key {key_id(NEW)}, which is not"):
        await Vault(world.changes, [OLD]).reveal(world.a.tenant_id, "openai")


def test_master_keys_parse_from_settings() -> None:
    text = f"{base64.b64encode(NEW).decode()}, {base64.b64encode(OLD).decode()}"
    assert parse_master_keys(text) == [NEW, OLD]
    assert parse_master_keys(None) == [] == parse_master_keys("")
    with pytest.raises(ConfigurationError, match="master key 2 must be 32 bytes, not 16"):
        parse_master_keys(f"{base64.b64encode(NEW).decode()},{base64.b64encode(OLD[:16]).decode()}")
    with pytest.raises(ConfigurationError, match="master key 1 is not base64"):
        parse_master_keys("not base64!")
