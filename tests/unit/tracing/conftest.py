"""The migrated store tracing tests run on (on every database of `database_settings`, which is
in tests/conftest.py), and a span builder with readable defaults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.settings import DatabaseSettings
from agentdeck.tracing.spans import Span

BASE_NS = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z
SECOND_NS = 1_000_000_000
MS_NS = 1_000_000


@pytest.fixture
async def store(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """The database, migrated (SQLite, and PostgreSQL when configured)."""
    engine = create_engine(database_settings)
    await migrate(engine)
    yield engine
    await engine.dispose()


def make_span(
    span_id: str,
    *,
    tenant_id: str = "tenant-a",
    trace_id: str = "1" * 32,
    start_ns: int = BASE_NS,
    duration_ms: float = 10,
    **fields: Any,
) -> Span:
    """A span of `tenant_id` starting at `start_ns` and lasting `duration_ms`."""
    fields.setdefault("name", f"span {span_id}")
    return Span(
        tenant_id=tenant_id,
        trace_id=trace_id,
        span_id=span_id,
        start_ns=start_ns,
        end_ns=start_ns + int(duration_ms * MS_NS),
        **fields,
    )
