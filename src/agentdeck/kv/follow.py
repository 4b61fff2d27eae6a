"""Following a pub/sub channel in the background: how replicas keep shared state in step."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from agentdeck.kv.base import KV

log = logging.getLogger(__name__)


class ChannelFollower:
    """Calls `apply(message)` for every message published on `channel` while started."""

    def __init__(self, kv: KV, channel: str, apply: Callable[[bytes], None]) -> None:
        self._kv = kv
        self._channel = channel
        self._apply = apply
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe; returns once the subscription is in place (or has failed, logged)."""
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._follow(ready))
        await ready.wait()

    async def _follow(self, ready: asyncio.Event) -> None:
        delay = 0.5
        while True:
            try:
                async with self._kv.subscribe(self._channel) as messages:
                    ready.set()
                    delay = 0.5
                    async for message in messages:
                        self._apply(message)
            except Exception as exc:  # noqa: BLE001 - kv lost: local state goes on, logged
                log.warning("lost %s, subscribing again in %.1fs: %s", self._channel, delay, exc)
            finally:
                ready.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        """Unsubscribe."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
