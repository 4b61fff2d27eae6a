"""What only the in-process backend has: an LRU bound on cached values with an eviction count,
counters that are never evicted, PTTL-like ttl_ms."""

from __future__ import annotations

import asyncio

from agentdeck.kv import MemoryKV


async def test_lru_bound_keeps_the_most_recent_and_counts_evictions() -> None:
    store = MemoryKV(max_entries=3)
    for index in range(1, 6):
        await store.set(f"k{index}", str(index).encode())
    assert len(store) == 3
    assert store.evictions == 2
    assert [await store.get(f"k{index}") for index in range(1, 6)] == [
        None,
        None,
        b"3",
        b"4",
        b"5",
    ]


async def test_reading_a_key_refreshes_its_recency() -> None:
    store = MemoryKV(max_entries=3)
    await store.set("a", b"1")
    await store.set("b", b"2")
    await store.set("c", b"3")
    assert await store.get("a") == b"1"  # now b is the least recently used
    await store.set("d", b"4")
    assert store.evictions == 1
    assert await store.get("b") is None
    assert [await store.get(key) for key in ("a", "c", "d")] == [b"1", b"3", b"4"]


async def test_overwriting_refreshes_recency_without_evicting() -> None:
    store = MemoryKV(max_entries=2)
    await store.set("a", b"1")
    await store.set("b", b"2")
    await store.set("a", b"again")  # overwrite: no eviction, a becomes most recent
    assert store.evictions == 0
    await store.set("c", b"3")
    assert store.evictions == 1
    assert await store.get("b") is None
    assert (await store.get("a"), await store.get("c")) == (b"again", b"3")


async def test_counters_are_never_evicted_by_cached_values() -> None:
    store = MemoryKV(max_entries=2)
    assert await store.incr("spent", 5) == 5
    await store.set("b", b"2")
    assert await store.incr("b") == 3  # a value counted on becomes a counter
    for index in range(10):
        await store.set(f"cached{index}", b"x")
    assert store.evictions == 8
    assert (await store.get("spent"), await store.get("b")) == (b"5", b"3")
    await store.set("b", b"cached again")  # and a value stored again is evictable
    await store.set("more", b"x")
    await store.set("more2", b"x")
    assert await store.get("b") is None


async def test_expired_counters_are_swept_without_being_read() -> None:
    store = MemoryKV()
    for index in range(100):
        await store.incr(f"short{index}", ttl_s=0.01)
    await asyncio.sleep(0.05)
    for _ in range(4096):
        await store.incr("busy")
    assert len(store) == 1


async def test_ttl_ms_follows_redis_pttl_conventions() -> None:
    store = MemoryKV()
    assert store.ttl_ms("absent") == -2
    await store.set("forever", b"v")
    assert store.ttl_ms("forever") == -1
    await store.set("timed", b"v", ttl_s=10)
    assert 9_000 < store.ttl_ms("timed") <= 10_000
    await store.set("short", b"v", ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert store.ttl_ms("short") == -2


async def test_expired_entries_are_dropped_when_read() -> None:
    store = MemoryKV()
    await store.set("short", b"v", ttl_s=0.05)
    await store.set("kept", b"v")
    assert len(store) == 2
    await asyncio.sleep(0.1)
    assert await store.get("short") is None
    assert len(store) == 1


async def test_add_and_count_follow_incrby_then_pexpire_when_pttl_is_minus_one() -> None:
    store = MemoryKV()
    assert store.count("n") == 0
    assert store.add("n", 5, 0) == 5
    assert store.ttl_ms("n") == -1  # created without expiry
    assert store.add("n", 2, 10_000) == 7
    assert 9_000 < store.ttl_ms("n") <= 10_000  # a key without expiry gets one
    assert store.add("n", -3, 60_000) == 4
    assert store.ttl_ms("n") <= 10_000  # an expiry is kept, not extended
    await store.set("cached", b"40", ttl_s=20)
    assert store.add("cached", 2, 0) == 42  # a stored value counted on keeps its expiry
    assert 19_000 < store.ttl_ms("cached") <= 20_000
    store.write("short", b"9", 10)
    await asyncio.sleep(0.05)
    assert store.count("short") == 0
    assert store.add("short", 1, 0) == 1  # an expired counter starts again
    assert store.ttl_ms("short") == -1
