"""`LoadingCache` on its own: one load per key for concurrent misses, refresh in the background
past the TTL, values read again before serving past their `stale_s`, invalidation during a
load not kept, and the LRU bound."""

from __future__ import annotations

import asyncio

from agentdeck.kv.loading_cache import LoadingCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_misses_share_one_load_and_the_ttl_refreshes_in_the_background() -> None:
    clock, reads = Clock(), {"a": 0}
    release = asyncio.Event()

    async def load(key: str) -> str:
        reads[key] += 1
        await release.wait()
        return f"{key}{reads[key]}"

    cache: LoadingCache[str, str] = LoadingCache(load, "thing", ttl_s=10, clock=clock)
    waiting = [asyncio.create_task(cache.get("a")) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert set(await asyncio.gather(*waiting)) == {"a1"}
    assert cache.loads == 1
    clock.now = 11
    assert await cache.get("a") == "a1"  # served at once, refreshed behind
    await asyncio.sleep(0.01)
    assert await cache.get("a") == "a2"
    assert cache.loads == 2
    await cache.stop()


async def test_stale_values_are_read_again_before_serving() -> None:
    clock, found = Clock(), {"x": None}

    async def load(key: str) -> str | None:
        return found[key]

    cache: LoadingCache[str, str | None] = LoadingCache(
        load, "thing", ttl_s=60, clock=clock, stale_s=lambda v: 5 if v is None else None
    )
    assert await cache.get("x") is None
    found["x"] = "now here"
    clock.now = 4
    assert await cache.get("x") is None  # "none" trusted for 5 s
    clock.now = 6
    assert await cache.get("x") == "now here"
    assert cache.loads == 2


async def test_an_invalidation_during_a_load_keeps_nothing_and_the_size_is_bounded() -> None:
    gate = asyncio.Event()

    async def load(key: int) -> int:
        if key == 0:
            await gate.wait()
        return key * 10

    cache: LoadingCache[int, int] = LoadingCache(load, "thing", max_entries=3)
    loading = asyncio.create_task(cache.get(0))
    await asyncio.sleep(0)
    cache.invalidate(0)
    gate.set()
    assert await loading == 0  # the caller gets what was read ...
    assert await cache.get(0) == 0
    assert cache.loads == 2  # ... but it was not kept
    for key in range(1, 5):
        await cache.get(key)
    loads = cache.loads
    await cache.get(4)
    await cache.get(1)  # dropped: least recently used of four, past the bound of three
    assert cache.loads == loads + 1
