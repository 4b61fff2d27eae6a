"""Fixtures for db tests: an engine on a fresh store (SQLite, and PostgreSQL when configured;
`database_settings` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine
from agentdeck.settings import DatabaseSettings


@pytest.fixture
async def engine(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty database, disposed after the test."""
    engine = create_engine(database_settings)
    yield engine
    await engine.dispose()
