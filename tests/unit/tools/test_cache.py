"""Tool specs served from memory: a warm tool costs the executor no store read (one read per
tool, shared by concurrent misses, unknown names remembered briefly), and a change or removal
through one registry reaches another replica's cache within a second over a shared kv (one
in-process kv object, and two Redis clients when configured)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine
from agentdeck.kv import KV, MemoryKV
from agentdeck.settings import DatabaseSettings
from agentdeck.settings_tools import ToolSettings
from agentdeck.tools.cache import ToolSpecs
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolSpec
from agentdeck.tools.service import CHANNEL, Editor, ToolRegistry
from agentdeck.tools.store import ToolStore
from tests.unit.kv.conftest import isolated_redis
from tests.unit.tools.conftest import TENANT, grant

EDITOR = Editor(TENANT, "user:ann", "req-1")
CALLER = ToolCaller(grant("developer"))


def add(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"sum": arguments["a"] + arguments["b"]}


def spec(name: str = "add", **fields: Any) -> ToolSpec:
    base = ToolSpec(
        name=name,
        description="adds",
        input_schema={"type": "object", "required": ["a", "b"]},
        output_schema=None,
        implementation=PythonImplementation("add"),
        tenant_id=TENANT,
    )
    return replace(base, **fields)


class Replica:
    """One replica's registry, spec cache and executor (the app's wiring)."""

    def __init__(self, engine: AsyncEngine, kv: KV, **cache: Any) -> None:
        self.registry = ToolRegistry(engine, kv)
        self.specs = ToolSpecs(self.registry, kv, **cache)
        self.executor = ToolExecutor(ToolSettings(), self.specs)
        self.executor.python._loaded["add"] = add

    async def call(self, name: str = "add") -> str:
        """The outcome of a call of `name`: "ok" or the error type."""
        found = await self.executor.call(name, {"a": 1, "b": 2}, CALLER)
        return "ok" if found.ok or found.error is None else found.error.type

    async def aclose(self) -> None:
        await self.specs.stop()
        await self.executor.aclose()


@pytest.fixture
async def replica(store: AsyncEngine) -> AsyncIterator[Replica]:
    found = Replica(store, MemoryKV())
    await found.specs.start()
    yield found
    await found.aclose()


async def test_a_warm_tool_is_called_without_reading_the_store(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    await replica.registry.put(EDITOR, spec())
    reads = 0
    real = ToolStore.get

    async def counted(self: ToolStore, tenant_id: str, name: str) -> ToolSpec | None:
        nonlocal reads
        reads += 1
        return await real(self, tenant_id, name)

    monkeypatch.setattr(ToolStore, "get", counted)
    for _ in range(50):
        assert await replica.call() == "ok"
    assert (replica.specs.loads, reads) == (1, 1)


async def test_concurrent_misses_share_one_read(replica: Replica) -> None:
    await replica.registry.put(EDITOR, spec())
    found = await asyncio.gather(*(replica.call() for _ in range(100)))
    assert found == ["ok"] * 100
    assert replica.specs.loads == 1


async def test_an_unknown_name_is_remembered_briefly(store: AsyncEngine) -> None:
    now = [0.0]
    replica = Replica(store, MemoryKV(), missing_ttl_s=5.0, clock=lambda: now[0])
    for _ in range(3):
        assert await replica.call("nope") == "not_found"
    assert replica.specs.loads == 1
    now[0] = 6.0  # past missing_ttl_s: read again, at once
    assert await replica.call("nope") == "not_found"
    assert replica.specs.loads == 2
    await replica.aclose()


async def test_a_change_here_is_served_at_once(replica: Replica) -> None:
    assert await replica.call() == "not_found"
    await replica.registry.put(EDITOR, spec())
    assert await replica.call() == "ok"
    await replica.registry.put(EDITOR, spec(input_schema={"type": "object", "required": ["c"]}))
    assert await replica.call() == "invalid_arguments"
    await replica.registry.delete(EDITOR, "add")
    assert await replica.call() == "not_found"
    assert replica.specs.loads == 4


async def test_a_read_that_an_invalidation_overtook_is_not_kept(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    await replica.registry.put(EDITOR, spec())
    gate = asyncio.Event()
    real = replica.registry.store.get

    async def slow(tenant_id: str, name: str) -> ToolSpec | None:
        found = await real(tenant_id, name)
        await gate.wait()
        return found

    monkeypatch.setattr(replica.registry.store, "get", slow)
    pending = asyncio.create_task(replica.call())
    await asyncio.sleep(0.05)
    await replica.registry.delete(EDITOR, "add")
    gate.set()
    assert await pending == "ok"  # asked before the removal
    assert await replica.call() == "not_found"  # read again: the earlier read was not kept
    assert replica.specs.loads == 2


async def test_a_malformed_message_is_ignored(replica: Replica) -> None:
    await replica.registry.put(EDITOR, spec())
    assert await replica.call() == "ok"
    for junk in (b"not json", b"[1]", b'{"a": 1}'):
        replica.specs._on_message(junk)
    assert await replica.call() == "ok"
    assert replica.specs.loads == 1


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def shared_kv(request: pytest.FixtureRequest) -> AsyncIterator[tuple[KV, KV]]:
    """What two replicas share: one in-process kv object, or two clients of one Redis."""
    if request.param == "memory":
        one = MemoryKV()
        yield one, one
        return
    url: str = request.getfixturevalue("redis_url")
    async with isolated_redis(url) as factory:
        yield await factory(), await factory()


@pytest.fixture
async def other_engine(
    store: AsyncEngine, database_settings: DatabaseSettings
) -> AsyncIterator[AsyncEngine]:
    """A second engine on the migrated store, as another replica has."""
    engine = create_engine(database_settings)
    yield engine
    await engine.dispose()


async def eventually(replica: Replica, expected: str, since: float) -> None:
    """Wait until `replica` calls the tool with `expected`, within 1 s of `since`."""
    while (found := await replica.call()) != expected:
        assert time.monotonic() - since < 1.0, f"the other replica still answers {found}"
        await asyncio.sleep(0.01)


async def test_a_change_reaches_every_replica_within_a_second(
    store: AsyncEngine, other_engine: AsyncEngine, shared_kv: tuple[KV, KV]
) -> None:
    here, there = Replica(store, shared_kv[0]), Replica(other_engine, shared_kv[1])
    for replica in (here, there):
        await replica.specs.start()
    try:
        await here.registry.put(EDITOR, spec())
        for replica in (here, there):
            assert await replica.call() == "ok"
        # Changed there: here answers with the new schema.
        await there.registry.put(EDITOR, spec(input_schema={"type": "object", "required": ["c"]}))
        await eventually(here, "invalid_arguments", time.monotonic())
        # Removed here: there answers not_found.
        await here.registry.delete(EDITOR, "add")
        assert await here.call() == "not_found"
        await eventually(there, "not_found", time.monotonic())
        # Registered again there: here, which remembered "no such tool", calls it.
        assert await here.call() == "not_found"
        await there.registry.put(EDITOR, spec())
        await eventually(here, "ok", time.monotonic())
        # Each registry's own announcement was not read twice by its own cache.
        assert here.specs.loads == 4  # first call, the change, the removal (remembered), new
    finally:
        for replica in (here, there):
            await replica.aclose()


async def test_a_registry_announces_on_the_tools_channel(store: AsyncEngine) -> None:
    kv = MemoryKV()
    registry = ToolRegistry(store, kv)
    async with kv.subscribe(CHANNEL) as messages:
        await registry.put(EDITOR, spec())
        message = await asyncio.wait_for(anext(aiter(messages)), 1.0)
    assert message == f'["{registry.origin}","{TENANT}","add"]'.encode()


async def test_a_lost_message_is_caught_up_after_the_ttl(
    store: AsyncEngine, other_engine: AsyncEngine
) -> None:
    # Separate in-process kvs: the other replica never hears of the change.
    here, deaf = Replica(store, MemoryKV()), Replica(other_engine, MemoryKV(), ttl_s=0.2)
    await here.registry.put(EDITOR, spec())
    assert await deaf.call() == "ok"
    await here.registry.delete(EDITOR, "add")
    assert await deaf.call() == "ok"  # still within the TTL
    await asyncio.sleep(0.25)
    assert await deaf.call() == "ok"  # served while the spec is read again in the background
    deadline = time.monotonic() + 1.0
    while await deaf.call() != "not_found":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    for replica in (here, deaf):
        await replica.aclose()
