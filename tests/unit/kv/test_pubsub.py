"""Pub/sub on both backends: who receives, what publish counts, and leaving on context exit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agentdeck.kv import KV, MemoryKV

from .conftest import RedisFactory

RECEIVE_TIMEOUT = 2.0


async def receive(messages: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(messages), RECEIVE_TIMEOUT)


async def test_publish_without_subscribers_reaches_nobody(kv: KV) -> None:
    assert await kv.publish("empty", b"hello") == 0


async def test_publish_reaches_a_subscriber_in_order(kv: KV) -> None:
    async with kv.subscribe("news") as messages:
        assert await kv.publish("news", b"one") == 1
        assert await kv.publish("news", b"two") == 1
        assert await receive(messages) == b"one"
        assert await receive(messages) == b"two"


async def test_publish_reaches_every_subscriber_and_no_other_channel(kv: KV) -> None:
    async with (
        kv.subscribe("news") as first,
        kv.subscribe("news") as second,
        kv.subscribe("sports") as other,
    ):
        assert await kv.publish("news", b"\x00binary\xff") == 2
        assert await receive(first) == b"\x00binary\xff"
        assert await receive(second) == b"\x00binary\xff"
        assert await kv.publish("sports", b"goal") == 1
        assert await kv.publish("news", b"marker") == 2
        # each iterator's next message is the one meant for its channel: nothing leaked across
        assert await receive(other) == b"goal"
        assert await receive(first) == b"marker"
        assert await receive(second) == b"marker"


async def _receivers_after_exit(kv: KV, channel: str) -> int:
    """What publish counts once the subscriber has left.

    Redis handles the UNSUBSCRIBE and the PUBLISH on different connections, so allow it a
    moment to process the first before the second.
    """
    deadline = time.monotonic() + 1.0
    while True:
        receivers = await kv.publish(channel, b"late")
        if receivers == 0 or time.monotonic() > deadline:
            return receivers
        await asyncio.sleep(0.02)


async def test_leaving_the_context_unsubscribes(kv: KV) -> None:
    async with kv.subscribe("news") as messages:
        assert await kv.publish("news", b"while open") == 1
        assert await receive(messages) == b"while open"
    assert await _receivers_after_exit(kv, "news") == 0


async def test_one_subscriber_leaving_keeps_the_other(kv: KV) -> None:
    async with kv.subscribe("news") as staying:
        async with kv.subscribe("news"):
            assert await kv.publish("news", b"both") == 2
        deadline = time.monotonic() + 1.0
        while await kv.publish("news", b"probe") != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert await kv.publish("news", b"after") == 1
        received = [await receive(staying)]
        while received[-1] != b"after":
            received.append(await receive(staying))
        assert received[0] == b"both"
        assert set(received[1:-1]) == {b"probe"}


async def test_memory_backend_drops_the_channel_entry_on_exit() -> None:
    kv = MemoryKV()
    async with kv.subscribe("a") as _, kv.subscribe("a") as _:
        assert set(kv._subscribers) == {"a"}
        assert len(kv._subscribers["a"]) == 2
    assert kv._subscribers == {}
    assert await kv.publish("a", b"x") == 0


async def test_memory_backend_leaves_on_exception() -> None:
    kv = MemoryKV()
    with pytest.raises(RuntimeError, match="boom"):
        async with kv.subscribe("a"):
            raise RuntimeError("boom")
    assert kv._subscribers == {}


async def test_memory_backend_counts_messages_a_full_subscriber_drops() -> None:
    kv = MemoryKV()
    async with kv.subscribe("a") as messages:
        for index in range(1024):
            assert await kv.publish("a", str(index).encode()) == 1
        assert await kv.publish("a", b"overflow") == 0
        assert kv.dropped_messages == 1
        assert await receive(messages) == b"0"


@pytest.mark.redis
async def test_redis_publish_reaches_subscribers_on_other_replicas(
    redis_kv_factory: RedisFactory,
) -> None:
    publisher, first, second = [await redis_kv_factory() for _ in range(3)]
    async with first.subscribe("config") as on_first, second.subscribe("config") as on_second:
        assert await publisher.publish("config", b"invalidate:key:42") == 2
        assert await receive(on_first) == b"invalidate:key:42"
        assert await receive(on_second) == b"invalidate:key:42"
    assert await _receivers_after_exit(publisher, "config") == 0


@pytest.mark.redis
async def test_redis_channels_are_isolated_by_prefix(
    redis_url: str, redis_kv_factory: RedisFactory
) -> None:
    from agentdeck.kv.redis import RedisKV

    ours = await redis_kv_factory()
    stranger = RedisKV(redis_url, prefix="test:someone-else:")
    try:
        async with ours.subscribe("config") as messages:
            assert await stranger.publish("config", b"not for you") == 0
            assert await ours.publish("config", b"for us") == 1
            assert await receive(messages) == b"for us"
    finally:
        await stranger.aclose()


async def test_a_timed_out_wait_does_not_end_the_subscription(kv: KV) -> None:
    async with kv.subscribe("news") as messages:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(messages), 0.05)
        assert await kv.publish("news", b"after the timeout") == 1
        assert await receive(messages) == b"after the timeout"
