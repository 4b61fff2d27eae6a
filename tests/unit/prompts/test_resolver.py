"""The resolver: references served from memory once warm (one store read per prompt, shared
by concurrent misses, unknown names remembered too), sticky weighted splits, and invalidation
across replicas: two registries on one store, each with its resolver, sharing a kv (one
in-process kv object, and two Redis clients when configured)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine
from agentdeck.errors import NotFoundError
from agentdeck.kv import KV, MemoryKV
from agentdeck.prompts.models import LabelTarget, PromptRef, PromptSnapshot, Split
from agentdeck.prompts.resolver import PromptResolver, pick_split
from agentdeck.prompts.service import PromptRegistry
from agentdeck.settings import DatabaseSettings
from tests.unit.kv.conftest import isolated_redis
from tests.unit.prompts.conftest import AUTHOR, KEY, PROJECT, TENANT, Permits, text

ANY = Permits("prompts:label")
PRODUCTION = PromptRef(KEY.name)


@pytest.fixture
async def resolver(registry: PromptRegistry, kv: MemoryKV) -> AsyncIterator[PromptResolver]:
    found = PromptResolver(registry, kv)
    await found.start()
    yield found
    await found.stop()


async def resolve(resolver: PromptResolver, ref: PromptRef = PRODUCTION, sticky: Any = None) -> int:
    return (await resolver.resolve(TENANT, PROJECT, ref, sticky)).version


async def released(registry: PromptRegistry, versions: int = 2) -> None:
    """The prompt with `versions` versions and `production` on version 1."""
    for i in range(1, versions + 1):
        await registry.create_version(AUTHOR, KEY, text(f"v{i}"), "")
    await registry.move_label(AUTHOR, KEY, "production", LabelTarget(1), None, "", ANY)


async def test_a_warm_prompt_is_served_without_reading_the_store(
    registry: PromptRegistry, resolver: PromptResolver
) -> None:
    await released(registry, 3)
    assert await resolve(resolver) == 1
    for _ in range(50):
        assert await resolve(resolver) == 1
        assert await resolve(resolver, PromptRef(KEY.name, None, 1)) == 1  # a label target
    assert resolver.loads == 1
    assert await resolve(resolver, PromptRef(KEY.name, None, 3)) == 3  # read once, then kept
    assert await resolve(resolver, PromptRef(KEY.name, None, 3)) == 3
    with pytest.raises(NotFoundError) as caught:
        await resolve(resolver, PromptRef(KEY.name, None, 4))  # past the latest: no read
    assert (caught.value.param, caught.value.message) == (
        "prompt.version",
        "prompt 'support/triage' has no version 4",
    )
    assert resolver.loads == 1


async def test_unknown_prompts_and_labels_are_404_naming_them_and_remembered(
    registry: PromptRegistry, resolver: PromptResolver
) -> None:
    for _ in range(3):
        with pytest.raises(NotFoundError) as caught:
            await resolve(resolver, PromptRef("nope"))
        assert caught.value.param == "prompt.name"
        assert "'nope'" in caught.value.message
    assert resolver.loads == 1
    await released(registry)
    with pytest.raises(NotFoundError) as caught:
        await resolve(resolver, PromptRef(KEY.name, "staging"))
    assert (caught.value.param, caught.value.message) == (
        "prompt.label",
        "prompt 'support/triage' has no label 'staging'",
    )


async def test_concurrent_misses_share_one_read(
    registry: PromptRegistry, resolver: PromptResolver
) -> None:
    await released(registry)
    found = await asyncio.gather(*(resolve(resolver) for _ in range(100)))
    assert found == [1] * 100
    assert resolver.loads == 1


async def test_a_change_here_is_served_at_once(
    registry: PromptRegistry, resolver: PromptResolver
) -> None:
    await released(registry)
    assert await resolve(resolver) == 1
    await registry.move_label(AUTHOR, KEY, "production", LabelTarget(2), None, "", ANY)
    assert await resolve(resolver) == 2
    await registry.set_archived(AUTHOR, KEY, 2, True)
    version = await resolver.resolve(TENANT, PROJECT, PRODUCTION, None)
    assert (version.version, version.archived) == (2, True)
    assert resolver.loads == 3


async def test_a_read_that_an_invalidation_overtook_is_not_kept(
    registry: PromptRegistry, resolver: PromptResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await released(registry)
    gate = asyncio.Event()
    real = registry.store.snapshot

    async def slow(key: Any) -> PromptSnapshot | None:
        found = await real(key)
        await gate.wait()
        return found

    monkeypatch.setattr(registry.store, "snapshot", slow)
    pending = asyncio.create_task(resolve(resolver))
    await asyncio.sleep(0.05)
    await registry.move_label(AUTHOR, KEY, "production", LabelTarget(2), None, "", ANY)
    gate.set()
    assert await pending == 1  # asked before the move
    assert await resolve(resolver) == 2  # read again: the earlier read was not kept
    assert resolver.loads == 2


def test_a_split_is_sticky_per_key_and_follows_the_weights() -> None:
    target = LabelTarget(splits=(Split(1, 1), Split(2, 3)))
    chosen = [pick_split(target, "p", "production", f"user-{i}") for i in range(8000)]
    assert chosen == [pick_split(target, "p", "production", f"user-{i}") for i in range(8000)]
    shares = Counter(chosen)
    assert 0.23 < shares[1] / 8000 < 0.27
    assert shares[1] + shares[2] == 8000
    # Another label of the same weights splits the same users differently.
    other = [pick_split(target, "p", "staging", f"user-{i}") for i in range(8000)]
    assert sum(a != b for a, b in zip(chosen, other, strict=True)) > 2000
    random = Counter(pick_split(target, "p", "production", None) for _ in range(8000))
    assert 0.22 < random[1] / 8000 < 0.28


async def test_a_split_label_serves_each_sticky_key_its_version(
    registry: PromptRegistry, resolver: PromptResolver
) -> None:
    await released(registry)
    split = LabelTarget(splits=(Split(1, 1), Split(2, 1)))
    await registry.move_label(AUTHOR, KEY, "canary", split, None, "", ANY)
    ref = PromptRef(KEY.name, "canary")
    for i in range(40):
        expected = pick_split(split, KEY.name, "canary", f"s{i}")
        assert await resolve(resolver, ref, f"s{i}") == expected
    assert {await resolve(resolver, ref, f"s{i}") for i in range(40)} == {1, 2}


KVPair = Callable[[], Awaitable[tuple[KV, KV]]]


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


async def test_a_moved_label_is_served_by_every_replica_within_a_second(
    store: AsyncEngine, other_engine: AsyncEngine, shared_kv: tuple[KV, KV]
) -> None:
    here, there = PromptRegistry(store, shared_kv[0]), PromptRegistry(other_engine, shared_kv[1])
    resolvers = [PromptResolver(here, shared_kv[0]), PromptResolver(there, shared_kv[1])]
    for found in resolvers:
        await found.start()
    try:
        await released(here)
        for found in resolvers:
            assert await resolve(found) == 1
        await here.move_label(AUTHOR, KEY, "production", LabelTarget(2), None, "", ANY)
        moved_at = time.monotonic()
        assert await resolve(resolvers[0]) == 2
        while await resolve(resolvers[1]) != 2:
            assert time.monotonic() - moved_at < 1.0, "the other replica still serves version 1"
            await asyncio.sleep(0.01)
        # A new version made there is known here too (a version past the latest was 404).
        await there.create_version(AUTHOR, KEY, text("v3"), "")
        deadline = time.monotonic() + 1.0
        while True:
            try:
                assert await resolve(resolvers[0], PromptRef(KEY.name, None, 3)) == 3
                break
            except NotFoundError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
    finally:
        for found in resolvers:
            await found.stop()


async def test_a_lost_message_is_caught_up_after_the_ttl(
    store: AsyncEngine, other_engine: AsyncEngine
) -> None:
    # Separate in-process kvs: the other replica never hears of the move.
    here, there = PromptRegistry(store, MemoryKV()), PromptRegistry(other_engine, MemoryKV())
    deaf = PromptResolver(there, MemoryKV(), ttl_s=0.2)
    await released(here)
    assert await resolve(deaf) == 1
    await here.move_label(AUTHOR, KEY, "production", LabelTarget(2), None, "", ANY)
    assert await resolve(deaf) == 1  # still within the TTL
    await asyncio.sleep(0.25)
    assert await resolve(deaf) == 1  # served while the entry is read again in the background
    deadline = time.monotonic() + 1.0
    while await resolve(deaf) != 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await deaf.stop()
