"""The migrated store identity tests run on (on every database of `database_settings`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.settings import DatabaseSettings


@pytest.fixture
async def store(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """The database, migrated."""
    engine = create_engine(database_settings)
    await migrate(engine)
    yield engine
    await engine.dispose()
