"""The migrated store prompt tests run on (SQLite, and PostgreSQL when configured), a registry
over it with an in-process kv, and helpers to make content and read the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.identity.tables import audit_events
from agentdeck.kv import MemoryKV
from agentdeck.prompts.models import PromptContent, PromptKey
from agentdeck.prompts.service import Author, PromptRegistry
from agentdeck.settings import DatabaseSettings

TENANT = "ten_a"
PROJECT = "prj_a"
AUTHOR = Author(TENANT, "user:ann", "req-1")
KEY = PromptKey(TENANT, PROJECT, "support/triage")


def text(template: str = "Hello {{ who }}", **fields: Any) -> PromptContent:
    """A text prompt's content."""
    return PromptContent(type="text", template=template, **fields)


def chat(*messages: tuple[str, str], **fields: Any) -> PromptContent:
    """A chat prompt's content from (role, template) pairs."""
    return PromptContent(
        type="chat", messages=[{"role": r, "content": c} for r, c in messages], **fields
    )


class Permits:
    """An `authorize` callback that records what it was asked, refusing what it lacks."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.asked: list[str] = []

    def __call__(self, permission: str) -> None:
        from agentdeck.errors import PermissionDeniedError

        self.asked.append(permission)
        if permission not in self.held:
            raise PermissionDeniedError(f"lacks {permission}")


async def audit_actions(engine: AsyncEngine, tenant_id: str = TENANT) -> list[tuple[str, str]]:
    """The tenant's audit events as (action, resource), in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_events.c.action, audit_events.c.resource)
            .where(audit_events.c.tenant_id == tenant_id)
            .order_by(audit_events.c.position)
        )
        return [(row.action, row.resource) for row in rows]


@pytest.fixture
async def store(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """The database, migrated."""
    engine = create_engine(database_settings)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def kv() -> AsyncIterator[MemoryKV]:
    """An in-process kv."""
    found = MemoryKV()
    yield found
    await found.aclose()


@pytest.fixture
def registry(store: AsyncEngine, kv: MemoryKV) -> PromptRegistry:
    """A registry over the migrated store."""
    return PromptRegistry(store, kv)
