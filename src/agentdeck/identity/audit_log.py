"""The audit log in the store: events appended to each tenant's hash chain inside the
transaction of the change they record, denials appended through a bounded background queue,
and verification and export of a tenant's chain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.identity.audit_chain import GENESIS, Verdict, chain, digest, verify
from agentdeck.identity.tables import audit_events, audit_heads

log = logging.getLogger(__name__)
NO_TENANT = "-"  # the chain of denials that no tenant could be told for (unknown keys)


def _storable(text: str, limit: int) -> str:
    return text.replace("\x00", "\ufffd")[:limit]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing that happened: who did what to which resource, and the states around it."""

    tenant_id: str
    actor: str
    action: str
    resource: str
    before: Any = None
    after: Any = None
    request_id: str | None = None

    def fields(self) -> dict[str, Any]:
        """The stored fields (states as digests), stamped with the current time. Text that
        came from a request is made storable (no NUL, cut to its column), so one odd event can
        never block the log."""
        return {
            "tenant_id": _storable(self.tenant_id, 40),
            "actor": _storable(self.actor, 200),
            "action": _storable(self.action, 100),
            "resource": _storable(self.resource, 300),
            "before_digest": digest(self.before),
            "after_digest": digest(self.after),
            "request_id": _storable(self.request_id, 64) if self.request_id else None,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }


_WAKE = AuditEvent("-", "-", "wake", "-")  # put on the queue by `stop`; never written


async def append(conn: AsyncConnection, events: list[AuditEvent]) -> None:
    """Append `events` (one tenant's) to its chain within the caller's transaction.

    The head row is updated first, which takes the row lock on PostgreSQL and the write lock
    on SQLite, so concurrent appenders queue instead of forking the chain.
    """
    if not events:
        return
    tenant_id = events[0].tenant_id
    bump = (
        audit_heads.update()
        .where(audit_heads.c.tenant_id == tenant_id)
        .values(position=audit_heads.c.position + len(events))
    )
    if (await conn.execute(bump)).rowcount == 0:
        # The tenant's first append: concurrent first appenders all find no head, so the head
        # is created if still missing (a racing insert waits for the other's commit, then does
        # nothing) and the bump is redone, which queues them on the row lock as usual.
        await conn.execute(_new_head(conn.dialect.name, tenant_id))
        await conn.execute(bump)
    position, previous = (
        await conn.execute(
            sa.select(audit_heads.c.position, audit_heads.c.hash).where(
                audit_heads.c.tenant_id == tenant_id
            )
        )
    ).one()
    linked = chain([e.fields() for e in events], (position - len(events), previous))
    await conn.execute(audit_events.insert(), linked)
    await conn.execute(
        audit_heads.update()
        .where(audit_heads.c.tenant_id == tenant_id)
        .values(hash=linked[-1]["hash"])
    )


def _new_head(dialect: str, tenant_id: str) -> sa.Insert:
    """Insert an empty head for `tenant_id` unless one exists (also when created meanwhile)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(audit_heads)
        .values(tenant_id=tenant_id, position=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=[audit_heads.c.tenant_id])
    )


class AuditQueue:
    """Events of the request path (denied requests, tool calls) are audited without touching
    the store there: events wait in a bounded queue and a background task appends them (a
    full queue drops them, counted). Events taken from the queue are held until written, in
    the order they were added, so a failed or interrupted write loses none of them."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_queue: int = 10_000,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max = max_queue
        self._queue: asyncio.Queue[AuditEvent] = asyncio.Queue(max_queue)
        self._held: list[AuditEvent] = []  # taken from the queue, not written yet
        self._on_drop = on_drop
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add(self, event: AuditEvent) -> None:
        """Queue `event`; never waits."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            if self._on_drop is not None:
                self._on_drop()

    async def start(self) -> None:
        """Begin writing in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop and write what is queued. A write under way is let finish, not cancelled (a
        cancelled SQLite write would keep the database locked for the final flush)."""
        if self._task is not None:
            self._stopping = True
            if not self._queue.full():
                self._queue.put_nowait(_WAKE)  # a full queue wakes the writer anyway
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._flush()

    async def _run(self) -> None:
        while not self._stopping:
            if not self._held:
                event = await self._queue.get()
                if event is _WAKE:
                    continue
                self._held.append(event)
            try:
                await self._flush()
            except sa.exc.DataError as exc:
                await self._isolate(exc)
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("audit queue write failed, retrying: %s", exc)
                await asyncio.sleep(1.0)

    async def _isolate(self, exc: Exception) -> None:
        """A batch the store refuses as data: write its events one by one and drop (counted)
        those it still refuses, so one bad event cannot stop the log."""
        log.warning("audit batch refused (%s); writing its events one by one", exc)
        held, self._held = self._held, []
        for event in held:
            try:
                async with self._engine.begin() as conn:
                    await append(conn, [event])
            except sa.exc.DataError:
                log.exception(
                    "audit event %s on %s dropped: the store refuses it",
                    event.action,
                    event.resource[:80],
                )
                if self._on_drop is not None:
                    self._on_drop()

    async def _flush(self) -> None:
        while not self._queue.empty() and len(self._held) < self._max:
            event = self._queue.get_nowait()
            if event is not _WAKE:
                self._held.append(event)
        tenants = list(dict.fromkeys(event.tenant_id for event in self._held))
        for tenant_id in tenants:
            mine = [event for event in self._held if event.tenant_id == tenant_id]
            async with self._engine.begin() as conn:
                await append(conn, mine)
            self._held = [event for event in self._held if event.tenant_id != tenant_id]


async def events(
    engine: AsyncEngine, tenant_id: str, after: int = 0
) -> AsyncIterator[dict[str, Any]]:
    """A tenant's events in position order (those past position `after`), streamed."""
    query = (
        sa.select(audit_events)
        .where(audit_events.c.tenant_id == tenant_id, audit_events.c.position > after)
        .order_by(audit_events.c.position)
    )
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for row in result:
            yield {str(name): value for name, value in row._mapping.items()}


async def head(engine: AsyncEngine, tenant_id: str) -> tuple[int, str] | None:
    """A tenant's chain head: (last position, its hash), None before any event."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(audit_heads.c.position, audit_heads.c.hash).where(
                    audit_heads.c.tenant_id == tenant_id
                )
            )
        ).one_or_none()
    return (int(row[0]), str(row[1])) if row is not None else None


async def verify_tenant(engine: AsyncEngine, tenant_id: str) -> Verdict:
    """Verify a tenant's whole chain against its head.

    The events are read before the head, in separate statements: appends that commit in
    between move the head past the events read. Since an append commits its events with the
    head, the events up to a head just read are all there, unless deleted; so the missing
    tail is read too, until the head stops moving or nothing more comes (truncation, which
    `verify` then names), and only then is the chain compared with the head.
    """
    found = [event async for event in events(engine, tenant_id)]
    while True:
        last = await head(engine, tenant_id) or (0, GENESIS)
        end = int(found[-1]["position"]) if found else 0
        if last[0] <= end:
            break
        more = [event async for event in events(engine, tenant_id, after=end)]
        if not more:
            break
        found.extend(more)
    return verify(found, last)


async def tenants_with_events(engine: AsyncEngine) -> list[str]:
    """Every tenant id that has a chain head."""
    async with engine.connect() as conn:
        return list(await conn.scalars(sa.select(audit_heads.c.tenant_id).order_by("tenant_id")))
