"""In-process `KV` backend: exact for one process, cached values bounded in number, no I/O."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import cast

from agentdeck.kv.base import Script, ScriptArg, ScriptResult
from agentdeck.kv.scripts import INCR_WITH_TTL

_SUBSCRIBER_QUEUE = 1024


class MemoryKV:
    """Keys with optional expiry; scripts run without awaiting, so atomic.

    Two stores share one key space. Values stored with `set` (cached answers, breaker state)
    live in an LRU-bounded dict. Counters written by scripts and `incr` (rate limits, budgets,
    reservations) are never evicted, since losing one would forget what was spent: they only
    expire, and expired ones are swept every few thousand writes.
    """

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._counters: dict[str, tuple[bytes, float | None]] = {}
        self._counter_writes = 0
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = {}
        self.evictions = 0
        self.dropped_messages = 0

    def _entry(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._counters.get(key)
        if entry is not None:
            if entry[1] is not None and entry[1] <= time.monotonic():
                del self._counters[key]
                return None
            return entry
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry

    # LocalState: what scripts read and write
    def read(self, key: str) -> bytes | None:
        """The live value of `key`."""
        entry = self._entry(key)
        return None if entry is None else entry[0]

    def write(self, key: str, value: bytes, ttl_ms: int | None) -> None:
        """Store a counter: kept until it expires or is removed, never evicted."""
        expires = time.monotonic() + ttl_ms / 1000 if ttl_ms is not None else None
        self._counters[key] = (value, expires)
        if self._data:
            self._data.pop(key, None)
        self._counter_writes += 1
        if self._counter_writes % 4096 == 0:
            self._sweep_counters()

    def count(self, key: str) -> int:
        """The integer at `key`, 0 when absent."""
        entry = self._counters.get(key)
        if entry is not None and (entry[1] is None or entry[1] > time.monotonic()):
            return int(entry[0])
        raw = self.read(key)  # an expired counter, or a value stored with `set`
        return int(raw) if raw is not None else 0

    def add(self, key: str, amount: int, ttl_ms: int) -> int:
        """Add to a counter; one without expiry gets `ttl_ms` (> 0)."""
        now = time.monotonic()
        entry = self._counters.get(key)
        if entry is not None and (entry[1] is None or entry[1] > now):  # the common case
            value, expires = int(entry[0]) + amount, entry[1]
            if expires is None and ttl_ms > 0:
                expires = now + ttl_ms / 1000
            self._counters[key] = (b"%d" % value, expires)
            return value
        value, remaining = self.count(key) + amount, self.ttl_ms(key)
        keep = remaining if remaining >= 0 else (ttl_ms if ttl_ms > 0 else None)
        self.write(key, b"%d" % value, keep)
        return value

    def _sweep_counters(self) -> None:
        now = time.monotonic()
        expired = [k for k, (_, exp) in self._counters.items() if exp is not None and exp <= now]
        for key in expired:
            del self._counters[key]

    def ttl_ms(self, key: str) -> int:
        """Milliseconds left, -1 without expiry, -2 when absent."""
        entry = self._entry(key)
        if entry is None:
            return -2
        if entry[1] is None:
            return -1
        return max(0, int((entry[1] - time.monotonic()) * 1000))

    def remove(self, key: str) -> bool:
        """Delete `key`."""
        if self._entry(key) is None:
            return False
        self._counters.pop(key, None)
        self._data.pop(key, None)
        return True

    def _store(self, key: str, value: bytes, ttl_ms: int | None) -> None:
        """Store a value, evicting the least recently used values past the bound."""
        expires = time.monotonic() + ttl_ms / 1000 if ttl_ms is not None else None
        self._counters.pop(key, None)
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        while len(self._data) > self._max_entries:
            self._data.popitem(last=False)
            self.evictions += 1

    def __len__(self) -> int:
        return len(self._data) + len(self._counters)

    # KV
    async def get(self, key: str) -> bytes | None:
        """The value of `key`, or None."""
        return self.read(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store `value` under `key`."""
        self._store(key, value, _ms(ttl_s))

    async def delete(self, key: str) -> bool:
        """Remove `key`."""
        return self.remove(key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add `amount` to the integer at `key`; a new key gets `ttl_s`."""
        return cast(int, INCR_WITH_TTL.local(self, [key], [amount, _ms(ttl_s) or 0]))

    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> ScriptResult:
        """Run the script's Python side; nothing awaits inside, so no other task interleaves."""
        return script.local(self, keys, args)

    async def publish(self, channel: str, message: bytes) -> int:
        """Deliver to local subscribers; a full subscriber queue drops and counts the message."""
        delivered = 0
        for queue in self._subscribers.get(channel, ()):
            try:
                queue.put_nowait(message)
                delivered += 1
            except asyncio.QueueFull:
                self.dropped_messages += 1
        return delivered

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Receive messages on `channel` until the context closes."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_SUBSCRIBER_QUEUE)
        self._subscribers.setdefault(channel, set()).add(queue)

        try:
            yield _QueueMessages(queue)
        finally:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[channel]

    async def ping(self) -> bool:
        """Always reachable."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""


def _ms(ttl_s: float | None) -> int | None:
    return None if ttl_s is None else max(1, int(ttl_s * 1000))


class _QueueMessages:
    """Messages from a queue; a cancelled wait leaves it usable (unlike an async generator)."""

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self._queue = queue

    def __aiter__(self) -> _QueueMessages:
        return self

    async def __anext__(self) -> bytes:
        return await self._queue.get()
