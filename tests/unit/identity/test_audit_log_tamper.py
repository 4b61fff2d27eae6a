"""Tampering with the stored audit log: on PostgreSQL the application's own connection cannot
change or remove events (triggers); on SQLite, where nothing stops it, every edit, deletion,
truncation, swap or forgery is named by `verify_tenant` at the first bad position."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.identity.audit_chain import event_hash
from agentdeck.identity.audit_log import AuditEvent, append, events, head, verify_tenant
from agentdeck.identity.tables import audit_events
from agentdeck.settings import DatabaseSettings

TENANT = "ten_audited"
COUNT = 10


async def _fill(engine: AsyncEngine) -> None:
    """Ten events for TENANT (one transaction each) and three for a neighbour."""
    for n in range(1, COUNT + 1):
        async with engine.begin() as conn:
            event = AuditEvent(TENANT, "user:alice", "key.create", f"key/k{n}", None, {"n": n})
            await append(conn, [event])
    async with engine.begin() as conn:
        await append(conn, [AuditEvent("ten_other", "user:bob", "x", f"y/{n}") for n in range(3)])


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=sqlite_url))
    await migrate(engine)
    await _fill(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def postgres_store(fresh_postgres: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(**fresh_postgres))
    await migrate(engine)
    await _fill(engine)
    yield engine
    await engine.dispose()


def _at(position: int) -> sa.ColumnElement[bool]:
    return sa.and_(audit_events.c.tenant_id == TENANT, audit_events.c.position == position)


async def _edit_a_field(conn: AsyncConnection) -> None:
    await conn.execute(audit_events.update().where(_at(4)).values(actor="user:mallory"))


async def _delete_a_middle_row(conn: AsyncConnection) -> None:
    await conn.execute(audit_events.delete().where(_at(5)))


async def _delete_the_last_rows(conn: AsyncConnection) -> None:
    tail = sa.and_(audit_events.c.tenant_id == TENANT, audit_events.c.position >= 8)
    await conn.execute(audit_events.delete().where(tail))


async def _swap_two_positions(conn: AsyncConnection) -> None:
    await conn.execute(audit_events.update().where(_at(3)).values(position=-1))
    await conn.execute(audit_events.update().where(_at(6)).values(position=3))
    await conn.execute(audit_events.update().where(_at(-1)).values(position=6))


async def _forge_an_appended_row(conn: AsyncConnection) -> None:
    """A well-formed event after the last one, hashed correctly, but not in the head."""
    last = (await conn.execute(sa.select(audit_events).where(_at(COUNT)))).one()._mapping
    forged = {**last, "position": COUNT + 1, "previous": last["hash"], "action": "key.delete"}
    forged["hash"] = event_hash(COUNT + 1, last["hash"], forged)
    await conn.execute(audit_events.insert().values(**forged))


async def _rewrite_from_an_edit_on(conn: AsyncConnection) -> None:
    """Edit event 4 and re-hash every event after it: the links hold, only the head differs."""
    rows = (
        await conn.execute(
            sa.select(audit_events)
            .where(audit_events.c.tenant_id == TENANT)
            .order_by(audit_events.c.position)
        )
    ).all()
    previous = rows[2]._mapping["hash"]
    for row in rows[3:]:
        event = dict(row._mapping)
        if event["position"] == 4:
            event["actor"] = "user:mallory"
        event["previous"] = previous
        event["hash"] = previous = event_hash(event["position"], previous, event)
        await conn.execute(
            audit_events.update()
            .where(_at(event["position"]))
            .values(actor=event["actor"], previous=event["previous"], hash=event["hash"])
        )


async def _forge_in_the_middle(conn: AsyncConnection) -> None:
    """Replace event 7 by a forged one that links to 6 and carries its own correct hash."""
    six = (await conn.execute(sa.select(audit_events).where(_at(6)))).one()._mapping
    seven = (await conn.execute(sa.select(audit_events).where(_at(7)))).one()._mapping
    forged = {**seven, "resource": "key/forged"}
    forged["hash"] = event_hash(7, six["hash"], forged)
    await conn.execute(audit_events.update().where(_at(7)).values(**forged))


Tamper = Callable[[AsyncConnection], Awaitable[None]]


EDITED = "its contents do not match its hash (edited or forged)"
UNLINKED = "does not link to the event before it"
REPLACED = "the last event is not the recorded head (replaced)"


@pytest.mark.parametrize(
    ("tamper", "bad_position", "checked", "reason"),
    [
        (_edit_a_field, 4, 3, EDITED),
        (_delete_a_middle_row, 5, 4, "event 5 is missing (deleted)"),
        (_delete_the_last_rows, 8, 7, "the log ends at 7 but the head is at 10 (truncated)"),
        (_swap_two_positions, 3, 2, UNLINKED),
        (_forge_an_appended_row, 11, 11, REPLACED),
        (_rewrite_from_an_edit_on, 10, 10, REPLACED),
        (_forge_in_the_middle, 8, 7, UNLINKED),
    ],
    ids=["edit", "delete-middle", "truncate", "swap", "forge-append", "rewrite", "forge-middle"],
)
async def test_sqlite_tampering_is_named_at_the_first_bad_position(
    sqlite_store: AsyncEngine, tamper: Tamper, bad_position: int, checked: int, reason: str
) -> None:
    before = await verify_tenant(sqlite_store, TENANT)
    assert (before.ok, before.checked) == (True, COUNT)
    async with sqlite_store.begin() as conn:
        await tamper(conn)

    verdict = await verify_tenant(sqlite_store, TENANT)

    assert (verdict.ok, verdict.bad_position, verdict.checked, verdict.reason) == (
        False,
        bad_position,
        checked,
        reason,
    )
    # the neighbour's chain is untouched
    other = await verify_tenant(sqlite_store, "ten_other")
    assert (other.ok, other.checked) == (True, 3)


async def test_sqlite_tampering_with_the_head_alone_shows_too(sqlite_store: AsyncEngine) -> None:
    async with sqlite_store.begin() as conn:
        await conn.execute(sa.text("UPDATE audit_heads SET position = 12 WHERE tenant_id = :t"),
                           {"t": TENANT})  # fmt: skip
    verdict = await verify_tenant(sqlite_store, TENANT)
    assert (verdict.bad_position, verdict.checked) == (11, COUNT)
    assert verdict.reason == "the log ends at 10 but the head is at 12 (truncated)"


APPEND_ONLY = "audit_events is append-only: {} is not allowed"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE audit_events SET actor = 'user:mallory' WHERE position = 4", "UPDATE"),
        ("DELETE FROM audit_events WHERE position = 5", "DELETE"),
        ("DELETE FROM audit_events", "DELETE"),
        ("TRUNCATE audit_events", "TRUNCATE"),
    ],
    ids=["update", "delete-one", "delete-all", "truncate"],
)
async def test_postgres_refuses_changes_to_audit_events(
    postgres_store: AsyncEngine, statement: str, operation: str
) -> None:
    stored_before = [event async for event in events(postgres_store, TENANT)]

    with pytest.raises(sa.exc.DBAPIError) as raised:
        async with postgres_store.begin() as conn:
            await conn.execute(sa.text(statement))

    assert APPEND_ONLY.format(operation) in str(raised.value)
    assert [event async for event in events(postgres_store, TENANT)] == stored_before
    verdict = await verify_tenant(postgres_store, TENANT)
    assert (verdict.ok, verdict.checked) == (True, COUNT)
    assert await head(postgres_store, TENANT) == (COUNT, stored_before[-1]["hash"])


@pytest.mark.postgres
async def test_postgres_still_appends_after_a_refused_change(postgres_store: AsyncEngine) -> None:
    with pytest.raises(sa.exc.DBAPIError):
        async with postgres_store.begin() as conn:
            await conn.execute(audit_events.update().where(_at(1)).values(actor="x"))
    async with postgres_store.begin() as conn:
        await append(conn, [AuditEvent(TENANT, "user:alice", "key.revoke", "key/k1")])
    verdict = await verify_tenant(postgres_store, TENANT)
    assert (verdict.ok, verdict.checked) == (True, COUNT + 1)
