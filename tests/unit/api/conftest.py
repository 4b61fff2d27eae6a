"""An identity-enabled in-process app: the platform tenant's owner key from the environment,
a master key for credentials, and fake model aliases `fake-a`, `fake-b` and `other`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from agentdeck.app import create_app
from agentdeck.identity.audit_log import AuditQueue
from agentdeck.settings import Settings
from tests.unit.api._deck import MASTER_KEY, MODELS, OWNER_KEY, Deck, bearer

DeckFactory = Callable[..., Any]


@pytest.fixture
async def open_deck(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DeckFactory]:
    """Build an app (identity on unless `identity` is given), run its lifespan, wrap it."""
    monkeypatch.setenv("TEST_OWNER_KEY", OWNER_KEY)
    monkeypatch.setenv("TEST_MASTER_KEY", MASTER_KEY)
    opened: list[Any] = []

    async def open_one(**values: Any) -> Deck:
        values.setdefault("models", MODELS)
        values.setdefault("tracing", {"enabled": True})
        values.setdefault(
            "identity",
            {
                "enabled": True,
                "bootstrap_on_start": True,
                "bootstrap": {"owner_key_env": "TEST_OWNER_KEY"},
                "master_key_env": "TEST_MASTER_KEY",
                "key_env": "test",
            },
        )
        app = create_app(make_settings(**values))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agentdeck.test"
        )
        mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api")
        deck = Deck(client, mount.app.state.services, bearer(OWNER_KEY))
        opened.append((client, lifespan, deck))
        return deck

    yield open_one
    for client, lifespan, deck in reversed(opened):
        await _audit_drained(deck.services.audit)
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _audit_drained(audit: AuditQueue, within_s: float = 5.0) -> None:
    """Wait until the audit queue has written what it holds. Stopping it while it writes
    cancels that write inside its transaction, and on SQLite the cancelled connection keeps
    the write lock, so the final flush waits out the 30 s busy timeout and fails."""
    deadline = time.monotonic() + within_s
    while not audit._queue.empty() or getattr(audit, "_held", None):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)
    await asyncio.sleep(0)


@pytest.fixture
async def deck(open_deck: DeckFactory) -> Deck:
    """The identity-enabled app on SQLite, as the platform owner sees it."""
    found: Deck = await open_deck()
    return found


@pytest.fixture(params=["sqlite", "postgres"])
def store_database(request: pytest.FixtureRequest) -> Iterator[dict[str, str] | None]:
    """No database settings (SQLite), or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    url = request.getfixturevalue("postgres_url").replace("postgresql+asyncpg", "postgresql")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres(url, f'CREATE SCHEMA "{schema}"'))
    yield {"url": url, "schema_name": schema}
    asyncio.run(_postgres(url, f'DROP SCHEMA "{schema}" CASCADE'))


async def _postgres(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def store_deck(store_database: dict[str, str] | None, open_deck: Any) -> Deck:
    """The app on SQLite, and on PostgreSQL when one is configured (the schema outlives it)."""
    found: Deck = await (open_deck(database=store_database) if store_database else open_deck())
    return found
