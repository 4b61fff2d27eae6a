"""Shared fixtures: the real PostgreSQL and Redis services named by the environment.

Outside CI a missing service skips its tests with a reason; with CI=true it fails them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agentdeck.settings import DatabaseSettings, Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() == "true"


def _service_url(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if not url:
        message = f"{what} tests need {variable}"
        if IN_CI:
            pytest.fail(f"{message}; CI must set it")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL URL from AGENTDECK_TEST_POSTGRES_URL."""
    return _service_url("AGENTDECK_TEST_POSTGRES_URL", "PostgreSQL")


@pytest.fixture
def redis_url() -> str:
    """A Redis URL from AGENTDECK_TEST_REDIS_URL."""
    return _service_url("AGENTDECK_TEST_REDIS_URL", "Redis")


@pytest.fixture
async def fresh_postgres(postgres_url: str) -> AsyncIterator[dict[str, str]]:
    """Database settings for a new, empty PostgreSQL schema, dropped after the test."""
    import asyncpg

    plain = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    yield {"url": plain, "schema_name": schema}
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_settings(request: pytest.FixtureRequest) -> DatabaseSettings:
    """Settings for an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return DatabaseSettings(url=request.getfixturevalue("sqlite_url"))
    return DatabaseSettings(**request.getfixturevalue("fresh_postgres"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'agentdeck.db'}"


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings built only from what a test passes: no stray AGENTDECK_* env, no cwd file."""
    for name in list(os.environ):
        if name.startswith("AGENTDECK_") and not name.startswith("AGENTDECK_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def build(**values: object) -> Settings:
        values.setdefault("database", {"url": f"sqlite+aiosqlite:///{tmp_path / 'agentdeck.db'}"})
        return load_settings(None, **values)

    return build


def owner_bootstrap(key_env: str) -> dict[str, object]:
    """Identity settings that require keys and install the owner key held in `key_env`."""
    return {"enabled": True, "bootstrap_on_start": True, "bootstrap": {"owner_key_env": key_env}}
