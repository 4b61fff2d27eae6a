"""Fixtures for kv tests: every test that takes `kv` runs on the memory and the Redis backend.

Redis clients use a fresh key prefix per test and delete everything under it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from agentdeck.kv import KV, MemoryKV

RedisFactory = Callable[[], Awaitable[KV]]


@asynccontextmanager
async def isolated_redis(url: str) -> AsyncIterator[RedisFactory]:
    """A factory of separate RedisKV clients (as replicas would be) sharing a fresh prefix.

    On exit every client is closed and every key under the prefix deleted.
    """
    from redis.asyncio import Redis

    from agentdeck.kv.redis import RedisKV

    prefix = f"test:{uuid.uuid4().hex}:"
    clients: list[RedisKV] = []

    async def build() -> KV:
        client = RedisKV(url, prefix=prefix)
        clients.append(client)
        return client

    try:
        yield build
    finally:
        for client in clients:
            await client.aclose()
        raw = Redis.from_url(url)
        try:
            keys = [key async for key in raw.scan_iter(match=f"{prefix}*")]
            if keys:
                await raw.delete(*keys)
        finally:
            await raw.aclose()


@pytest.fixture
async def redis_kv_factory(redis_url: str) -> AsyncIterator[RedisFactory]:
    """Builds RedisKV clients sharing one isolated prefix."""
    async with isolated_redis(redis_url) as factory:
        yield factory


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    """One KV backend: in-process, or Redis under an isolated prefix."""
    if request.param == "memory":
        store = MemoryKV()
        yield store
        await store.aclose()
        return
    url: str = request.getfixturevalue("redis_url")  # skips (or fails in CI) when unset
    async with isolated_redis(url) as factory:
        yield await factory()
