"""The stores identity tests run on: a new SQLite file, and a new PostgreSQL schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.settings import DatabaseSettings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> DatabaseSettings:
    """An empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return DatabaseSettings(url=request.getfixturevalue("sqlite_url"))
    return DatabaseSettings(**request.getfixturevalue("fresh_postgres"))


@pytest.fixture
async def store(database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """The database, migrated."""
    engine = create_engine(database)
    await migrate(engine)
    yield engine
    await engine.dispose()
