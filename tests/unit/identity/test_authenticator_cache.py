"""The authenticator's grant cache against a real store: one store read per key however many
requests ask at once, nothing stale cached when a change lands during a read, unknown keys
remembered until the next change, and changes reaching other replicas by message or poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from agentdeck.db import create_engine, migrate
from agentdeck.errors import AuthenticationError
from agentdeck.identity.access_admin import AccessAdmin
from agentdeck.identity.audit_log import NO_TENANT, AuditQueue, events
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.bootstrap import SYSTEM, InitResult, initialize
from agentdeck.identity.changes import Actor, Changes
from agentdeck.identity.keys import hash_key, new_key
from agentdeck.identity.tables import api_keys
from agentdeck.kv import MemoryKV
from agentdeck.settings import DatabaseSettings
from agentdeck.settings_identity import BootstrapSettings

OWNER_KEY = new_key("test")
GRANT_READ = "FROM api_keys JOIN principals"  # how `load_grant` reads a key's grant


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass
class Replica:
    """One gateway's view of identity: its authenticator, and changes made through it."""

    auth: Authenticator
    changes: Changes
    access: AccessAdmin
    audit: AuditQueue


@dataclass
class Store:
    engine: AsyncEngine
    init: InitResult
    key_reads: list[str]  # SQL of every grant read by key
    replicas: list[Replica]

    async def replica(self, kv: MemoryKV, poll_s: float = 4.0, dev: bool = False) -> Replica:
        audit = AuditQueue(self.engine)
        auth = Authenticator(self.engine, kv, audit, enabled=not dev, poll_s=poll_s)
        changes = Changes(self.engine, auth.changed)
        await auth.start((self.init.principal_id, self.init.project_id) if dev else None)
        made = Replica(auth, changes, AccessAdmin(changes, "test"), audit)
        self.replicas.append(made)
        return made

    async def key_id(self, key: str) -> str:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                sa.select(api_keys.c.id).where(api_keys.c.hash == hash_key(key))
            )
        return str(found)


@pytest.fixture
async def store(database_settings: DatabaseSettings) -> AsyncIterator[Store]:
    """A migrated store with the owner key installed, counting grant reads by key."""
    engine = create_engine(database_settings)
    await migrate(engine)
    init = await initialize(Changes(engine), BootstrapSettings(), "test", OWNER_KEY)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if GRANT_READ in statement:
            reads.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    made = Store(engine, init, reads, [])
    yield made
    for replica in made.replicas:
        await replica.auth.stop()
        await replica.audit.stop()
    await engine.dispose()


async def test_concurrent_first_lookups_of_a_key_share_one_store_read(store: Store) -> None:
    replica = await store.replica(MemoryKV())

    grants = await asyncio.gather(
        *(replica.auth.authenticate(bearer(OWNER_KEY), f"req{n}") for n in range(50))
    )

    assert len(store.key_reads) == 1
    assert {g.key_id for g in grants} == {await store.key_id(OWNER_KEY)}
    assert {(g.tenant_id, g.principal_id, g.project_id) for g in grants} == {
        (store.init.tenant_id, store.init.principal_id, store.init.project_id)
    }
    assert grants[0].access.allows("keys:manage")
    for _ in range(20):  # later requests are served from memory
        await replica.auth.authenticate({"x-api-key": OWNER_KEY}, None)
    assert len(store.key_reads) == 1


async def test_a_failed_read_fails_every_waiter_and_is_not_cached(store: Store) -> None:
    replica = await store.replica(MemoryKV())
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE api_keys RENAME TO api_keys_away"))
    try:
        outcomes = await asyncio.gather(
            *(replica.auth.authenticate(bearer(OWNER_KEY), None) for _ in range(10)),
            return_exceptions=True,
        )
    finally:
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE api_keys_away RENAME TO api_keys"))
    assert len(store.key_reads) == 1
    assert all(isinstance(o, sa.exc.SQLAlchemyError) for o in outcomes), outcomes
    grant = await replica.auth.authenticate(bearer(OWNER_KEY), None)  # read again, now served
    assert grant.principal_id == store.init.principal_id
    assert len(store.key_reads) == 2


async def test_a_change_during_a_read_does_not_cache_what_was_read(store: Store) -> None:
    replica = await store.replica(MemoryKV())
    owner = Actor(store.init.tenant_id, SYSTEM)
    extra, extra_key = await replica.access.create_key(
        owner, store.init.principal_id, store.init.project_id, "doomed"
    )
    revoked_during_read: list[float] = []

    def revoke_once(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The key's row has just been read (unrevoked); now the revocation commits and its
        # invalidation runs, before the read finishes building the grant.
        if GRANT_READ in statement and not revoked_during_read:
            revoked_during_read.append(time.monotonic())
            await_only(replica.access.revoke_key(owner, extra["id"]))

    event.listen(store.engine.sync_engine, "after_cursor_execute", revoke_once)
    try:
        during = await replica.auth.authenticate(bearer(extra_key), "r1")
    finally:
        event.remove(store.engine.sync_engine, "after_cursor_execute", revoke_once)

    assert len(revoked_during_read) == 1
    assert during.denial is None  # the request that raced the revocation saw the old state
    with pytest.raises(AuthenticationError, match=r"^API key revoked: ad_test_"):
        await replica.auth.authenticate(bearer(extra_key), "r2")
    assert len(store.key_reads) == 2  # read again: the stale grant was not kept
    with pytest.raises(AuthenticationError, match="API key revoked"):
        await replica.auth.authenticate(bearer(extra_key), "r3")
    assert len(store.key_reads) == 2  # the refusal itself is cached


async def test_an_unknown_key_is_remembered_until_the_next_change(store: Store) -> None:
    replica = await store.replica(MemoryKV())
    unknown = new_key("test")

    for _ in range(5):
        with pytest.raises(AuthenticationError, match=r"^unknown API key ad_test_"):
            await replica.auth.authenticate(bearer(unknown), "probe")
    assert len(store.key_reads) == 1

    owner = Actor(store.init.tenant_id, SYSTEM)
    await replica.access.create_key(
        owner, store.init.principal_id, store.init.project_id, "late", given_key=unknown
    )
    grant = await replica.auth.authenticate(bearer(unknown), None)
    assert grant.key_id == await store.key_id(unknown)
    assert len(store.key_reads) == 2

    await replica.audit.stop()
    denials = [e async for e in events(store.engine, NO_TENANT) if e["action"] == "auth.denied"]
    assert [(e["actor"], e["action"], e["request_id"]) for e in denials] == [
        (f"key:{unknown[:12]}...{unknown[-6:]}", "auth.denied", "probe")
    ] * 5


async def _until_refused(auth: Authenticator, key: str, limit_s: float) -> float:
    """Seconds until `auth` refuses `key` as revoked (fails after `limit_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            await auth.authenticate(bearer(key), None)
        except AuthenticationError as error:
            if error.message.startswith("API key revoked"):
                return time.monotonic() - started
            raise
        await asyncio.sleep(0.01)
    raise AssertionError(f"still accepted after {limit_s}s")


@pytest.mark.parametrize(
    ("shared_kv", "poll_s", "within_s"),
    [(True, 4.0, 0.5), (False, 0.2, 1.0)],
    ids=["pubsub", "revision-poll"],
)
async def test_a_revocation_reaches_another_replica(
    store: Store, shared_kv: bool, poll_s: float, within_s: float
) -> None:
    """By message when the replicas share kv (the poll is too slow to be what works here),
    else by the revision poll."""
    shared = MemoryKV()
    kvs = (shared, shared) if shared_kv else (MemoryKV(), MemoryKV())
    first, second = [await store.replica(kv, poll_s) for kv in kvs]
    owner = Actor(store.init.tenant_id, SYSTEM)
    record, key = await first.access.create_key(
        owner, store.init.principal_id, store.init.project_id, "shared"
    )
    await asyncio.sleep(poll_s * 1.5 if not shared_kv else 0.05)  # let the poll settle
    assert (await second.auth.authenticate(bearer(key), None)).key_id == record["id"]
    reads = len(store.key_reads)

    await first.access.revoke_key(owner, record["id"])
    took = await _until_refused(second.auth, key, 5.0)

    print(f"revocation reached the other replica in {took * 1000:.0f} ms")
    assert took <= within_s
    assert len(store.key_reads) <= reads + 3  # invalidated once, not read per request


async def test_the_poll_outlives_a_failed_read_in_development_mode(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Identity off: the poll also refreshes the keyless caller's grant. When that read fails
    the poll must go on, or revocations would stop reaching this replica for good."""
    replica = await store.replica(MemoryKV(), poll_s=0.05, dev=True)
    assert replica.auth.dev_grant is not None
    elsewhere = AccessAdmin(Changes(store.engine), "test")  # another replica: no message here
    owner = Actor(store.init.tenant_id, SYSTEM)
    p, project = store.init.principal_id, store.init.project_id
    first, first_key = await elsewhere.create_key(owner, p, project, "one")
    second, second_key = await elsewhere.create_key(owner, p, project, "two")

    async with store.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE principals RENAME TO principals_away"))
    try:
        await elsewhere.revoke_key(owner, first["id"])
        for _ in range(100):
            if "identity revision poll failed" in caplog.text:
                break
            await asyncio.sleep(0.02)
    finally:
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE principals_away RENAME TO principals"))
    assert "identity revision poll failed" in caplog.text
    await asyncio.sleep(0.2)  # the poll catches up with the revision
    assert (await replica.auth.authenticate(bearer(second_key), None)).key_id == second["id"]

    await elsewhere.revoke_key(owner, second["id"])
    took = await _until_refused(replica.auth, second_key, 2.0)
    assert took <= 0.5
    with pytest.raises(AuthenticationError, match="API key revoked"):
        await replica.auth.authenticate(bearer(first_key), None)
    assert (await replica.auth.authenticate({}, None)).principal_id == p  # keyless: dev caller
