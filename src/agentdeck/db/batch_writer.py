"""A bounded queue written to the store in batches, off the request path.

Spend records and spans both leave the request path this way: `add` never waits (a full queue
drops the item and counts it), a background task gathers batches and writes them, a failed
write is retried with backoff and kept, and `stop` writes everything still queued or held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)

T = TypeVar("T")
# Failures that mean the store is unreachable or busy: the batch is kept and retried.
_STORE_AWAY = (
    OSError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    sa.exc.DisconnectionError,
)


class BatchWriter(Generic[T]):
    """A bounded queue of items and the task that writes them in batches with `write`.

    Items taken from the queue are held until written, and a write under way when the writer
    is stopped is let finish: a shutdown neither loses a batch nor writes it twice. While a
    batch keeps failing, new items queue up to the bound and are dropped (counted) beyond it.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        max_queue: int = 10_000,
        batch: int = 1000,
        interval_s: float = 0.5,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self._write_batch = write
        self._queue: asyncio.Queue[T] = asyncio.Queue(max_queue)
        self._batch = batch
        self._interval = interval_s
        self._on_drop = on_drop
        self._task: asyncio.Task[None] | None = None
        self._held: list[T] = []  # taken from the queue, not written yet
        self._writing: asyncio.Future[None] | None = None
        self.dropped = 0
        self.written = 0

    def add(self, item: T) -> bool:
        """Queue `item`; never waits. False when the queue was full (dropped, counted)."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped(1)
            return False
        return True

    def room(self) -> int:
        """How many more items the queue takes now."""
        return self._queue.maxsize - self._queue.qsize()

    def add_many(self, items: list[T]) -> bool:
        """Queue all of `items`, or none of them (False) when they do not fit."""
        if len(items) > self.room():
            return False
        for item in items:
            self._queue.put_nowait(item)
        return True

    def _dropped(self, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(count)
        if self.dropped % 1000 < count:  # a log line per drop would add to the overload
            log.warning("%s queue full: %d dropped so far", self.name, self.dropped)

    @property
    def pending(self) -> int:
        """Items queued or held, not written yet."""
        return self._queue.qsize() + len(self._held)

    async def start(self) -> None:
        """Begin writing in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the writer and write everything still held or queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writing is not None:
            # A write the cancelled writer was waiting for: let it end rather than repeat it.
            with contextlib.suppress(OSError, sa.exc.SQLAlchemyError):
                await self._writing
            self._writing = None
        while self._held or not self._queue.empty():
            if not self._held:
                self._held = self._take()
            try:
                await self._write_held()
            except _STORE_AWAY:
                raise
            except Exception:  # noqa: BLE001 - see _run
                await self._write_one_by_one()

    def _take(self) -> list[T]:
        items: list[T] = []
        while len(items) < self._batch and not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def _run(self) -> None:
        delay = 0.5
        while True:
            if not self._held:
                self._held.append(await self._queue.get())
                if self._queue.qsize() < self._batch:
                    await asyncio.sleep(self._interval)  # let a batch gather (not when one has)
                self._held.extend(self._take())
            # Shielded: cancelling the writer must not cut a write off half-way.
            self._writing = asyncio.ensure_future(self._write_held())
            try:
                await asyncio.shield(self._writing)
                delay = 0.5
            except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
                # Something in the batch itself is refused: retrying it whole would never end.
                log.warning("%s batch refused (%s); writing it item by item", self.name, exc)
                await self._write_one_by_one()
            except _STORE_AWAY as exc:
                log.warning("%s write failed, retrying in %.1fs: %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:
                # Not the store being away: something in the batch the driver or the store
                # refuses (a value out of range, a character a column cannot hold).
                log.exception("%s batch refused; writing it item by item", self.name)
                await self._write_one_by_one()

    async def _write_one_by_one(self) -> None:
        """Write the held batch an item at a time; an item the store refuses is dropped
        (counted) so that it cannot hold up everything queued behind it."""
        for item in self._held:
            try:
                await self._write_batch([item])
                self.written += 1
            except _STORE_AWAY:
                raise  # the store is away: the batch stays held and is retried
            except Exception as exc:  # noqa: BLE001 - one refused item must not stop the rest
                log.warning("%s dropped an item the store refuses: %s", self.name, exc)
                self._dropped(1)
        self._held = []

    async def _write_held(self) -> None:
        if self._held:
            await self._write_batch(self._held)
            self.written += len(self._held)
        self._held = []
