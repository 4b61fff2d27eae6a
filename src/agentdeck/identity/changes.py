"""Every identity change runs in one transaction with its audit events and a bump of the
identity revision, then tells every replica to drop its cached grants."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.identity.audit_log import AuditEvent, append
from agentdeck.identity.tables import identity_revision


def new_id(prefix: str) -> str:
    """A fresh id such as `prj_4f0c9a1b2d3e5f60`."""
    return f"{prefix}_{secrets.token_hex(8)}"


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a tenant, a name for the audit log, the request it came in."""

    tenant_id: str
    name: str
    request_id: str | None = None


@dataclass(slots=True)
class Change:
    """An open change: its connection, and the audit events it will append."""

    conn: AsyncConnection
    actor: Actor
    events: list[AuditEvent] = field(default_factory=list)

    def record(
        self,
        action: str,
        resource: str,
        before: Any = None,
        after: Any = None,
        tenant_id: str | None = None,
    ) -> None:
        """Note what changed, for the audit log (of the actor's tenant unless named)."""
        self.events.append(
            AuditEvent(
                tenant_id or self.actor.tenant_id,
                self.actor.name,
                action,
                resource,
                before,
                after,
                self.actor.request_id,
            )
        )


class Changes:
    """Opens changes on one store; `on_changed` runs after each commit (cache invalidation)."""

    def __init__(
        self, engine: AsyncEngine, on_changed: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.engine = engine
        self._on_changed = on_changed

    @asynccontextmanager
    async def open(self, actor: Actor) -> AsyncIterator[Change]:
        """A transaction for `actor`'s change; commits with its audit events, or rolls back."""
        async with self.engine.begin() as conn:
            change = Change(conn, actor)
            yield change
            by_tenant: dict[str, list[AuditEvent]] = {}
            for event in change.events:
                by_tenant.setdefault(event.tenant_id, []).append(event)
            for events in by_tenant.values():
                await append(conn, events)
            await conn.execute(
                identity_revision.update().values(revision=identity_revision.c.revision + 1)
            )
        if self._on_changed is not None:
            await self._on_changed()


async def one_or_none(conn: AsyncConnection, query: sa.Select[Any]) -> dict[str, Any] | None:
    """The single row of `query` as a dict, or None."""
    row = (await conn.execute(query)).one_or_none()
    return dict(row._mapping) if row is not None else None
