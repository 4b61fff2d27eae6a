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

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower
from agentdeck.tools.models import ToolSpec
from agentdeck.tools.service import CHANNEL, ToolRegistry

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Entry:
    spec: ToolSpec | None  # None: the tenant has no such tool
    loaded_at: float


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
        self._ttl_s = ttl_s
        self._missing_ttl_s = missing_ttl_s
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[Key, _Entry] = OrderedDict()
        self._loading: dict[Key, asyncio.Future[_Entry]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self._follower = ChannelFollower(kv, CHANNEL, self._on_message)
        registry.on_change(self.invalidate)
        self.loads = 0  # store reads, for tests and metrics

    async def start(self) -> None:
        """Follow the registry's change announcements."""
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following, and stop background reads."""
        await self._follower.stop()
        for task in list(self._refreshing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def invalidate(self, tenant_id: str, name: str) -> None:
        """Forget the tool; a read under way for it will not be kept."""
        key = (tenant_id, name)
        self._cache.pop(key, None)
        self._loading.pop(key, None)

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
        key = (tenant_id, name)
        entry = self._cache.get(key)
        if entry is not None:
            age = self._clock() - entry.loaded_at
            if entry.spec is None and age > self._missing_ttl_s:
                entry = None  # "no such tool" is not served stale: read it again now
            else:
                self._cache.move_to_end(key)
                if age > self._ttl_s and key not in self._loading:
                    task = asyncio.get_running_loop().create_task(self._refresh(key))
                    self._refreshing.add(task)
                    task.add_done_callback(self._refreshing.discard)
                return entry.spec
        pending = self._loading.get(key)
        if pending is not None:
            return (await asyncio.shield(pending)).spec
        return (await self._load(key)).spec

    async def _refresh(self, key: Key) -> None:
        try:
            await self._load(key)
        except Exception as exc:  # noqa: BLE001 - the cached spec keeps serving; next use retries
            log.warning("could not refresh tool %s: %s", key[1], exc)

    async def _load(self, key: Key) -> _Entry:
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            self.loads += 1
            entry = _Entry(await self._registry.store.get(*key), self._clock())
            future.set_result(entry)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            # Only a load still current is kept: an invalidation while it read replaced or
            # removed it, and what it read may predate the change.
            current = self._loading.get(key) is future
            if current:
                del self._loading[key]
        if current:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry
