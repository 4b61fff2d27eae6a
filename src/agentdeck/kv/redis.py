"""Redis `KV` backend: shared by every replica; scripts run as Lua, one atomic step each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from agentdeck.errors import ServiceUnavailableError
from agentdeck.kv.base import Script, ScriptArg, ScriptResult
from agentdeck.kv.scripts import INCR_WITH_TTL


class RedisKV:
    """`KV` on redis-py asyncio; one connection pool per process."""

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "agentdeck:", max_connections: int = 64) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        # Bounded waits: a Redis that stops answering must fail calls, not hang them. A
        # blocking pool makes a burst of calls queue for a connection instead of failing with
        # "too many connections" (redis-py's default pool raises at its bound).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=5.0,
            decode_responses=False,
            health_check_interval=30,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
        )
        self._redis = Redis(connection_pool=pool)
        self._prefix = prefix
        self._shas: dict[str, str] = {}

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        """The value of `key`, or None."""
        return cast(bytes | None, await self._redis.get(self._key(key)))

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store `value` under `key`."""
        px = max(1, int(ttl_s * 1000)) if ttl_s is not None else None
        await self._redis.set(self._key(key), value, px=px)

    async def delete(self, key: str) -> bool:
        """Remove `key`."""
        return bool(await self._redis.delete(self._key(key)))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add `amount`; the TTL is set only when this call created the key."""
        result = await self.run(INCR_WITH_TTL, [key], [amount, _ms(ttl_s)])
        return cast(int, result)

    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> ScriptResult:
        """EVALSHA the script, loading it on first use or after a Redis restart. A Redis that
        does not answer is a 503 naming it (limits fail closed, never silently open)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            return await self._run(script, keys, args)
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            raise ServiceUnavailableError(
                f"shared state (Redis) did not answer for {script.name}: {exc}",
                headers={"retry-after": "1"},
            ) from exc

    async def _run(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> ScriptResult:
        from redis.exceptions import NoScriptError

        full_keys = [self._key(k) for k in keys]
        sha = self._shas.get(script.name)
        if sha is not None:
            try:
                return await self._evalsha(sha, full_keys, args)
            except NoScriptError:
                pass  # Redis restarted or flushed its script cache: load it again below
        loaded: Any = await self._redis.script_load(script.lua)
        sha = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        self._shas[script.name] = sha
        return await self._evalsha(sha, full_keys, args)

    async def _evalsha(
        self, sha: str, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> ScriptResult:
        result: Any = await self._redis.evalsha(sha, len(keys), *keys, *args)
        return cast(ScriptResult, result)

    async def publish(self, channel: str, message: bytes) -> int:
        """Publish to every subscriber on every replica."""
        receivers: Any = await self._redis.publish(self._key(channel), message)
        return int(receivers)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Receive messages on `channel` until the context closes."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._key(channel))

        try:
            yield _PubSubMessages(pubsub)
        finally:
            try:
                await pubsub.unsubscribe()
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        answer: Any = await self._redis.ping()
        return bool(answer)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _ms(ttl_s: float | None) -> int:
    return max(1, int(ttl_s * 1000)) if ttl_s is not None else 0


class _PubSubMessages:
    """Data of the messages on a redis-py PubSub; a cancelled wait leaves it usable."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    def __aiter__(self) -> _PubSubMessages:
        return self

    async def __anext__(self) -> bytes:
        while True:
            message: Any = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=None
            )
            if message is not None and isinstance(message.get("data"), bytes):
                return bytes(message["data"])
