"""A migrated store (SQLite, and PostgreSQL when configured), grants with chosen roles, a span
sink, an executor over them, and a real HTTP upstream on loopback whose endpoints answer,
time out, fail, answer garbage, hang mid-answer or echo headers (counting every request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.identity.grants import Grant
from agentdeck.identity.rbac import Access, Role, builtin_role
from agentdeck.settings import DatabaseSettings
from agentdeck.settings_tools import ToolSettings
from agentdeck.tools.approvals import Approvals
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.spans import ToolSpans
from agentdeck.tracing.spans import Span

TENANT, PROJECT = "ten_a", "prj_a"


def grant(*roles: str | Role, principal: str = "usr_1", key: str = "key_1") -> Grant:
    """A grant of TENANT/PROJECT holding built-in role names or custom roles."""
    found = [builtin_role(r) if isinstance(r, str) else r for r in roles]
    return Grant(
        key_id=key,
        tenant_id=TENANT,
        tenant_slug="a",
        project_id=PROJECT,
        principal_id=principal,
        principal_name=principal,
        principal_kind="user",
        access=Access(tuple(r for r in found if r is not None)),
    )


class SpanSink:
    """Collects spans the way the recorder takes them."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def record(self, span: Span) -> None:
        """Keep `span`."""
        self.spans.append(span)


@pytest.fixture
async def store(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """The database, migrated."""
    engine = create_engine(database_settings)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sink() -> SpanSink:
    """Where the executor's spans go."""
    return SpanSink()


@pytest.fixture
async def executor(store: AsyncEngine, sink: SpanSink) -> AsyncIterator[ToolExecutor]:
    """An executor with approvals in the store, spans to the sink, breakers after 3."""
    found = ToolExecutor(
        ToolSettings(breaker_failures=3, breaker_open_s=0.3),
        approvals=Approvals(store, 60),
        spans=ToolSpans(sink, None),  # type: ignore[arg-type]
    )
    yield found
    await found.aclose()


@dataclass
class Upstream:
    """A loopback HTTP tool server; `hits` counts requests per path prefix."""

    url: str
    hits: dict[str, int] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """The upstream, serving until the test ends."""
    async with serve_upstream() as found:
        yield found


@asynccontextmanager
async def serve_upstream() -> AsyncIterator[Upstream]:
    """Serve the upstream on a free loopback port while the block runs."""
    state = Upstream("")

    def count(request: web.Request) -> None:
        head = request.path.strip("/").split("/")[0]
        state.hits[head] = state.hits.get(head, 0) + 1
        state.seen.append({"path": request.path_qs, "auth": request.headers.get("authorization")})

    async def weather(request: web.Request) -> web.Response:
        count(request)
        body = await request.json() if request.can_read_body else {}
        return web.json_response({"city": request.match_info["city"], "body": body})

    async def slow(request: web.Request) -> web.Response:
        count(request)
        await asyncio.sleep(5)
        return web.json_response({})

    async def fail(request: web.Request) -> web.Response:
        count(request)
        return web.Response(status=500, text="boom")

    async def garbage(request: web.Request) -> web.Response:
        count(request)
        return web.Response(body=b"\x00\xffnot json<html>", content_type="text/html")

    async def hang(request: web.Request) -> web.StreamResponse:
        count(request)
        response = web.StreamResponse(headers={"content-type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"partial": ')
        await asyncio.sleep(5)
        return response

    async def echo(request: web.Request) -> web.Response:
        count(request)
        return web.json_response({"you_sent": request.headers.get("authorization")})

    async def flaky(request: web.Request) -> web.Response:
        count(request)
        if state.hits["flaky"] < 3:
            return web.Response(status=503)
        return web.json_response({"ok": "third time"})

    async def missing(request: web.Request) -> web.Response:
        count(request)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/weather/{city}", weather)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    app.router.add_get("/garbage", garbage)
    app.router.add_get("/hang", hang)
    app.router.add_get("/echo", echo)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()
