"""The KV interface on both backends: values, expiry, counters, ping."""

from __future__ import annotations

import asyncio

from agentdeck.kv import KV, MemoryKV, create_kv
from agentdeck.settings import KVSettings

SHORT_TTL = 0.2
PAST_TTL = 0.35


async def test_backends_implement_the_protocol(kv: KV) -> None:
    assert isinstance(kv, KV)
    assert kv.backend in {"memory", "redis"}


async def test_get_of_missing_key_is_none(kv: KV) -> None:
    assert await kv.get("absent") is None


async def test_set_then_get_returns_the_bytes(kv: KV) -> None:
    await kv.set("greeting", b"hello \x00\xff")
    assert await kv.get("greeting") == b"hello \x00\xff"


async def test_set_overwrites(kv: KV) -> None:
    await kv.set("k", b"one")
    await kv.set("k", b"two")
    assert await kv.get("k") == b"two"


async def test_keys_are_independent(kv: KV) -> None:
    await kv.set("a", b"1")
    await kv.set("b", b"2")
    assert (await kv.get("a"), await kv.get("b")) == (b"1", b"2")


async def test_delete_reports_whether_the_key_existed(kv: KV) -> None:
    await kv.set("k", b"v")
    assert await kv.delete("k") is True
    assert await kv.get("k") is None
    assert await kv.delete("k") is False
    assert await kv.delete("never-set") is False


async def test_set_with_ttl_expires(kv: KV) -> None:
    await kv.set("short", b"v", ttl_s=SHORT_TTL)
    await kv.set("long", b"v", ttl_s=30)
    await kv.set("forever", b"v")
    assert await kv.get("short") == b"v"
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("short") is None
    assert await kv.get("long") == b"v"
    assert await kv.get("forever") == b"v"


async def test_delete_of_an_expired_key_reports_false(kv: KV) -> None:
    await kv.set("short", b"v", ttl_s=SHORT_TTL)
    await asyncio.sleep(PAST_TTL)
    assert await kv.delete("short") is False


async def test_set_without_ttl_clears_an_earlier_ttl(kv: KV) -> None:
    await kv.set("k", b"v1", ttl_s=SHORT_TTL)
    await kv.set("k", b"v2")
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("k") == b"v2"


async def test_incr_creates_counts_and_accepts_negative_amounts(kv: KV) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n") == 2
    assert await kv.incr("n", 40) == 42
    assert await kv.incr("n", -50) == -8
    assert await kv.get("n") == b"-8"


async def test_incr_on_a_value_set_as_bytes(kv: KV) -> None:
    await kv.set("n", b"10")
    assert await kv.incr("n", 5) == 15


async def test_incr_without_ttl_never_expires(kv: KV) -> None:
    assert await kv.incr("n", 3) == 3
    await asyncio.sleep(PAST_TTL)
    assert await kv.incr("n", 1) == 4


async def test_incr_creating_the_key_sets_its_ttl(kv: KV) -> None:
    assert await kv.incr("n", 5, ttl_s=SHORT_TTL) == 5
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("n") is None
    assert await kv.incr("n", 2, ttl_s=SHORT_TTL) == 2


async def test_later_incr_keeps_the_original_ttl(kv: KV) -> None:
    assert await kv.incr("n", 1, ttl_s=SHORT_TTL) == 1
    await asyncio.sleep(0.1)
    # a later call's (longer) TTL does not extend the window the first call opened
    assert await kv.incr("n", 1, ttl_s=30) == 2
    assert await kv.incr("n", 1) == 3
    await asyncio.sleep(PAST_TTL - 0.1)
    assert await kv.get("n") is None


async def test_incr_on_an_existing_key_without_ttl_does_not_add_one(kv: KV) -> None:
    assert await kv.incr("n", 1) == 1
    assert await kv.incr("n", 1, ttl_s=SHORT_TTL) == 2
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("n") == b"2"


async def test_sub_millisecond_ttl_is_accepted_and_expires(kv: KV) -> None:
    # 0.1 ms rounds up to 1 ms (Redis refuses PX 0), never down to "no expiry"
    await kv.set("k", b"v", ttl_s=0.0001)
    assert await kv.incr("n", 1, ttl_s=0.0001) == 1
    await asyncio.sleep(0.05)
    assert await kv.get("k") is None
    assert await kv.get("n") is None


async def test_ping(kv: KV) -> None:
    assert await kv.ping() is True


async def test_create_kv_without_url_is_memory_with_the_configured_bound() -> None:
    store = create_kv(KVSettings(cache_max_entries=7))
    assert isinstance(store, MemoryKV)
    assert store.backend == "memory"
    for index in range(10):
        await store.set(f"k{index}", b"v")
    assert len(store) == 7
    assert store.evictions == 3


async def test_create_kv_with_url_is_redis(redis_url: str) -> None:
    store = create_kv(KVSettings(url=redis_url))
    try:
        assert store.backend == "redis"
        assert await store.ping() is True
    finally:
        await store.aclose()
