"""The `KV` interface: counters, atomic scripts, a TTL cache and pub/sub, whatever the backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

ScriptArg = int | str | bytes
ScriptResult = int | bytes | None | list[Any]


class LocalState(Protocol):
    """What an in-process script implementation may touch: plain keys with optional expiry."""

    def read(self, key: str) -> bytes | None:
        """The value of `key`, or None when absent or expired."""
        ...

    def write(self, key: str, value: bytes, ttl_ms: int | None) -> None:
        """Set `key`; `ttl_ms` None keeps it until deleted."""
        ...

    def ttl_ms(self, key: str) -> int:
        """Milliseconds left on `key`: -1 without expiry, -2 when absent (as Redis PTTL)."""
        ...

    def remove(self, key: str) -> bool:
        """Delete `key`; True when it existed."""
        ...

    def count(self, key: str) -> int:
        """The integer at `key`, 0 when absent."""
        ...

    def add(self, key: str, amount: int, ttl_ms: int) -> int:
        """Add `amount` to the integer at `key` and return it; a key without expiry then gets
        `ttl_ms` when it is above 0 (Redis: INCRBY, then PEXPIRE when PTTL is -1)."""
        ...


@dataclass(frozen=True)
class Script:
    """An atomic read-modify-write: Lua for Redis, and the same logic in Python for one process.

    Both sides must behave identically; `tests/unit/kv` runs every script on both backends.
    """

    name: str
    lua: str
    local: Callable[[LocalState, Sequence[str], Sequence[ScriptArg]], ScriptResult]


@runtime_checkable
class KV(Protocol):
    """Shared state for agentdeck processes; in-process or Redis."""

    backend: str

    async def get(self, key: str) -> bytes | None:
        """The value of `key`, or None."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl_s` seconds when given."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove `key`; True when it existed."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add `amount` to the integer at `key` (0 when absent); set its TTL when it is created."""
        ...

    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> ScriptResult:
        """Run an atomic script over `keys` with `args`."""
        ...

    async def publish(self, channel: str, message: bytes) -> int:
        """Send `message` to every subscriber of `channel`; returns how many received it."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Receive messages published on `channel` while the context is open."""
        ...

    async def ping(self) -> bool:
        """True when the backend answers."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
