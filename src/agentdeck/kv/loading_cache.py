"""`LoadingCache`: values read from the store once, then served from memory, dropped when a
change is announced. What the prompt resolver and the tool-spec cache share.

- A miss loads the value; concurrent misses of one key share that load.
- A value older than `ttl_s` is still served at once, and read again by one background load
  (a safety net should an announcement be lost: a request never waits on the store once
  warm). `stale_s(value)` may shorten that for some values, which are then read again before
  being served (a remembered "no such thing" is not worth serving old).
- `invalidate(key)` forgets the value, and a load under way for it is not kept: what it read
  may predate the change.
- At most `max_entries` are kept, the least recently used dropped first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    loaded_at: float


class LoadingCache(Generic[K, V]):
    """Values by key, loaded on a miss, refreshed past their age, dropped on invalidation."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        what: str,
        ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        stale_s: Callable[[V], float | None] = lambda value: None,
    ) -> None:
        self._load_value = load
        self._what = what  # for the log line of a failed refresh
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._stale_s = stale_s
        self._cache: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[_Entry[V]]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self.loads = 0  # store reads, for tests and metrics

    async def get(self, key: K) -> V:
        """The value of `key`, from memory when it is there."""
        entry = self._cache.get(key)
        if entry is not None:
            age = self._clock() - entry.loaded_at
            limit = self._stale_s(entry.value)
            if limit is None or age <= limit:
                self._cache.move_to_end(key)
                if age > self._ttl_s and key not in self._loading:
                    task = asyncio.get_running_loop().create_task(self._refresh(key))
                    self._refreshing.add(task)
                    task.add_done_callback(self._refreshing.discard)
                return entry.value
        pending = self._loading.get(key)
        if pending is not None:
            return (await asyncio.shield(pending)).value
        return (await self._load(key)).value

    def invalidate(self, key: K) -> None:
        """Forget `key`; a load under way for it will not be kept."""
        self._cache.pop(key, None)
        self._loading.pop(key, None)

    async def stop(self) -> None:
        """Stop the background loads."""
        for task in list(self._refreshing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh(self, key: K) -> None:
        try:
            await self._load(key)
        except Exception as exc:  # noqa: BLE001 - the cached value keeps serving; next use retries
            log.warning("could not refresh %s %s: %s", self._what, key, exc)

    async def _load(self, key: K) -> _Entry[V]:
        future: asyncio.Future[_Entry[V]] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            self.loads += 1
            entry = _Entry(await self._load_value(key), self._clock())
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
