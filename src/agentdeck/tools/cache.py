"""`ToolSpecs`: tool specs served from memory, so a tool call reads no SQL once warm.

Per (tenant, name) it keeps the tool's spec, or that there is none, read from the store on a
miss (concurrent misses share one read). Every change in the registry is announced on kv
(`agentdeck:tools`) and each replica drops that tool when the message arrives, so a changed or
removed tool is served as it now is everywhere at once. Should a message be lost, a spec older
than `ttl_s` is read again in the background while it still serves (a call never waits on the
store once a tool is warm), and "no such tool" is trusted for `missing_ttl_s` only: a tool
registered while the message was lost is callable soon, and unknown names still cost at most
one read per name per `missing_ttl_s`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson

from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower
from agentdeck.kv.loading_cache import LoadingCache
from agentdeck.tools.models import ToolSpec
from agentdeck.tools.service import CHANNEL, ToolRegistry

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000
Key = tuple[str, str]


class ToolSpecs:
    """The tool specs the executor runs, with no store read once warm."""

    def __init__(
        self,
        registry: ToolRegistry,
        kv: KV,
        ttl_s: float = 60.0,
        missing_ttl_s: float = 5.0,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry

        async def load(key: Key) -> ToolSpec | None:
            return await registry.store.get(*key)

        self._cache: LoadingCache[Key, ToolSpec | None] = LoadingCache(
            load, "tool", ttl_s, max_entries, clock,
            # "No such tool" is not served stale: past `missing_ttl_s` it is read again now.
            stale_s=lambda spec: missing_ttl_s if spec is None else None,
        )  # fmt: skip
        self._follower = ChannelFollower(kv, CHANNEL, self._on_message)
        registry.on_change(self.invalidate)

    @property
    def loads(self) -> int:
        """Store reads, for tests and metrics."""
        return self._cache.loads

    async def start(self) -> None:
        """Follow the registry's change announcements."""
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following, and stop background reads."""
        await self._follower.stop()
        await self._cache.stop()

    def invalidate(self, tenant_id: str, name: str) -> None:
        """Forget the tool; a read under way for it will not be kept."""
        self._cache.invalidate((tenant_id, name))

    def _on_message(self, message: bytes) -> None:
        try:
            origin, tenant_id, name = orjson.loads(message)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            log.warning("ignored a malformed tool invalidation: %r", message[:200])
            return
        if origin != self._registry.origin:  # our own registry told us already
            self.invalidate(str(tenant_id), str(name))

    async def get(self, tenant_id: str, name: str) -> ToolSpec | None:
        """The tenant's tool called `name`, or None (the `ToolStore.get` contract)."""
        return await self._cache.get((tenant_id, name))
