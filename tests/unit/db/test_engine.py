"""The engine: per-backend connection setup, ping, and start-up retries with backoff."""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, ping
from agentdeck.db.engine import wait_until_reachable
from agentdeck.settings import DatabaseSettings

from ...conftest import free_port


async def test_ping_answers_on_a_reachable_store(engine: AsyncEngine) -> None:
    await ping(engine)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT 1")) == 1


async def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=sqlite_url))
    try:
        async with engine.connect() as conn:
            journal = await conn.scalar(sa.text("PRAGMA journal_mode"))
            foreign_keys = await conn.scalar(sa.text("PRAGMA foreign_keys"))
            synchronous = await conn.scalar(sa.text("PRAGMA synchronous"))
    finally:
        await engine.dispose()
    assert journal == "wal"
    assert foreign_keys == 1
    assert synchronous == 1  # NORMAL


async def test_postgres_connections_use_the_configured_schema(
    fresh_postgres: dict[str, str],
) -> None:
    engine = create_engine(DatabaseSettings(**fresh_postgres, pool_size=2))
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.pool.size() == 2  # type: ignore[attr-defined]
        async with engine.connect() as conn:
            assert (
                await conn.scalar(sa.text("SELECT current_schema()"))
                == (fresh_postgres["schema_name"])
            )
    finally:
        await engine.dispose()


async def test_wait_until_reachable_returns_at_once_when_reachable(sqlite_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=sqlite_url))
    try:
        started = time.monotonic()
        await wait_until_reachable(engine, attempts=3)
        assert time.monotonic() - started < 0.2  # no backoff sleep happened
    finally:
        await engine.dispose()


@pytest.mark.parametrize("port", [1, "free"])
async def test_wait_until_reachable_gives_up_after_the_attempts(
    port: int | str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port() if port == "free" else port
    engine = create_engine(DatabaseSettings(url=f"postgresql://postgres@127.0.0.1:{port}/test"))
    caplog.set_level(logging.WARNING, logger="agentdeck.db.engine")
    started = time.monotonic()
    try:
        with pytest.raises((OSError, sa.exc.SQLAlchemyError)):
            await wait_until_reachable(engine, attempts=3)
    finally:
        await engine.dispose()
    elapsed = time.monotonic() - started
    # backoff sleeps 0.2 s then 0.4 s between the three attempts; refused connects are instant
    assert 0.6 <= elapsed < 2.0
    warnings = [r.getMessage() for r in caplog.records if r.name == "agentdeck.db.engine"]
    assert len(warnings) == 2
    assert "attempt 1/3" in warnings[0]
    assert "attempt 2/3" in warnings[1]


async def test_wait_until_reachable_with_one_attempt_does_not_sleep() -> None:
    engine = create_engine(DatabaseSettings(url="postgresql://postgres@127.0.0.1:1/test"))
    started = time.monotonic()
    try:
        with pytest.raises((OSError, sa.exc.SQLAlchemyError)):
            await wait_until_reachable(engine, attempts=1)
    finally:
        await engine.dispose()
    assert time.monotonic() - started < 0.5
