"""In-process `KV` backend: exact for one process, bounded in size, no I/O."""

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
    """Keys with optional expiry in an LRU-bounded dict; scripts run without awaiting, so atomic."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = {}
        self.evictions = 0
        self.dropped_messages = 0

    # LocalState, for scripts and the async API alike
    def read(self, key: str) -> bytes | None:
        """The live value of `key`."""
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def write(self, key: str, value: bytes, ttl_ms: int | None) -> None:
        """Store `key`, evicting the least recently used entries past the bound."""
        expires = time.monotonic() + ttl_ms / 1000 if ttl_ms is not None else None
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        while len(self._data) > self._max_entries:
            self._data.popitem(last=False)
            self.evictions += 1

    def ttl_ms(self, key: str) -> int:
        """Milliseconds left, -1 without expiry, -2 when absent."""
        if self.read(key) is None:
            return -2
        expires = self._data[key][1]
        if expires is None:
            return -1
        return max(0, int((expires - time.monotonic()) * 1000))

    def remove(self, key: str) -> bool:
        """Delete `key`."""
        return self.read(key) is not None and self._data.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._data)

    # KV
    async def get(self, key: str) -> bytes | None:
        """The value of `key`, or None."""
        return self.read(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store `value` under `key`."""
        self.write(key, value, _ms(ttl_s))

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
