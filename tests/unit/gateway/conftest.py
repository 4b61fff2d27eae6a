"""An in-process agentdeck app (lifespan run) and an httpx client speaking to it over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agentdeck.app import create_app
from agentdeck.settings import Settings

ClientFactory = Callable[..., Any]


@pytest.fixture
async def gateway_client(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """Build an app from settings values, run its lifespan, and hand back an httpx client."""
    opened: list[Any] = []

    async def open_client(**values: Any) -> httpx.AsyncClient:
        app = create_app(make_settings(**values))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agentdeck.test"
        )
        opened.append((client, lifespan))
        return client

    yield open_client
    for client, lifespan in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
