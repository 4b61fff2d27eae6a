"""Fixtures for db tests: a fresh store on SQLite, and on PostgreSQL when it is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine
from agentdeck.settings import DatabaseSettings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_settings(request: pytest.FixtureRequest) -> DatabaseSettings:
    """Settings for an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return DatabaseSettings(url=request.getfixturevalue("sqlite_url"))
    return DatabaseSettings(**request.getfixturevalue("fresh_postgres"))


@pytest.fixture
async def engine(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty database, disposed after the test."""
    engine = create_engine(database_settings)
    yield engine
    await engine.dispose()
