"""The async engine for SQLite (default) or PostgreSQL, with start-up retries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agentdeck.settings import DatabaseSettings

log = logging.getLogger(__name__)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine for the configured URL; SQLite gets WAL and a busy timeout for concurrency."""
    url = settings.url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if settings.schema_name:
        connect_args["server_settings"] = {"search_path": settings.schema_name}
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def ping(engine: AsyncEngine) -> None:
    """Run `SELECT 1`; raises when the store is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def wait_until_reachable(engine: AsyncEngine, attempts: int) -> None:
    """Retry `ping` with backoff so a store that starts a moment late does not fail start-up."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            await ping(engine)
            return
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            if attempt == attempts:
                raise
            log.warning("database not reachable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
