"""A bounded queue written to the store in batches, off the request path.

Spend records and spans both leave the request path this way: `add` never waits (a full queue
drops the item and counts it), background tasks gather batches and write them, a failed write
is retried with backoff and kept, and `stop` writes everything still queued or held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
# Failures that mean something in the batch itself is refused: retrying it whole would never
# end, so it is written item by item.
_REFUSED = (sa.exc.DataError, sa.exc.IntegrityError)


@dataclass(slots=True)
class _Lane(Generic[T]):
    """One write in flight: the items it took from the queue and has not written yet."""

    held: list[T] = field(default_factory=list)
    one_by_one: bool = False  # the held batch was refused whole: write it item by item
    writing: asyncio.Future[None] | None = None


class BatchWriter(Generic[T]):
    """A bounded queue of items and the tasks that write them in batches with `write`.

    Items taken from the queue are held until written, and a write under way when the writer
    is stopped is let finish: a shutdown neither loses a batch nor writes it twice. While a
    batch keeps failing, new items queue up to the bound and are dropped (counted) beyond it.

    `concurrency` writes may be in flight at once, each its own batch (the order of batches is
    then not kept). A store reached over the network takes several round trips per batch, and
    each of them waits while the event loop serves requests: overlapping writes keeps the
    store busy meanwhile (docs/performance.md).
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        max_queue: int = 10_000,
        batch: int = 1000,
        interval_s: float = 0.5,
        on_drop: Callable[[int], None] | None = None,
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"{name}: concurrency must be at least 1, not {concurrency}")
        self.name = name
        self._write_batch = write
        # A deque, not an asyncio.Queue: items come and go a batch at a time, and a queue's
        # per-item bookkeeping cost more than the rest of the hand-over.
        self._queue: deque[T] = deque()
        self._max = max_queue
        self._ready = asyncio.Event()  # set when items are queued
        self._batch = batch
        self._interval = interval_s
        self._on_drop = on_drop
        self._lanes: list[_Lane[T]] = [_Lane() for _ in range(concurrency)]
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.written = 0

    def add(self, item: T) -> bool:
        """Queue `item`; never waits. False when the queue was full (dropped, counted)."""
        if len(self._queue) >= self._max:
            self._dropped(1)
            return False
        self._queue.append(item)
        self._ready.set()
        return True

    def room(self) -> int:
        """How many more items the queue takes now."""
        return self._max - len(self._queue)

    def add_many(self, items: list[T]) -> bool:
        """Queue all of `items`, or none of them (False) when they do not fit."""
        if len(items) > self.room():
            return False
        if items:
            self._queue.extend(items)
            self._ready.set()
        return True

    def _dropped(self, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(count)
        if self.dropped % 1000 < count:  # a log line per drop would add to the overload
            log.warning("%s queue full: %d dropped so far", self.name, self.dropped)

    @property
    def queued(self) -> int:
        """Items waiting in the queue (not taken by a write yet)."""
        return len(self._queue)

    @property
    def pending(self) -> int:
        """Items queued or held, not written yet."""
        return len(self._queue) + sum(len(lane.held) for lane in self._lanes)

    @property
    def running(self) -> bool:
        """Whether the background writers are at work: started, and none of them ended."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def start(self) -> None:
        """Begin writing in the background."""
        self._tasks = [asyncio.create_task(self._run(lane)) for lane in self._lanes]

    async def stop(self) -> None:
        """Stop the writers and write everything still held or queued."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for lane in self._lanes:
            if lane.writing is not None:
                # A write a cancelled writer was waiting for: let it end rather than repeat it.
                # What it failed to write is still held, and is written below.
                with contextlib.suppress(Exception):
                    await lane.writing
                lane.writing = None
        for lane in self._lanes:
            await self._drain(lane, refill=False)
        await self._drain(self._lanes[0], refill=True)

    async def _drain(self, lane: _Lane[T], refill: bool) -> None:
        """Write what `lane` holds (and, with `refill`, everything queued) now; a store that is
        away is raised to the caller, with the items kept."""
        while lane.held or (refill and self._queue):
            if not lane.held:
                lane.held = self._take()
            try:
                await self._write_lane(lane)
            except _STORE_AWAY:
                raise
            except Exception:  # noqa: BLE001 - see _run
                lane.one_by_one = True

    def _take(self) -> list[T]:
        popleft = self._queue.popleft
        return [popleft() for _ in range(min(self._batch, len(self._queue)))]

    async def _gather(self) -> list[T]:
        """The next batch: waits for a first item, then a moment for a batch to gather (not
        when one has)."""
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            if len(self._queue) < self._batch:
                await asyncio.sleep(self._interval)
            batch = self._take()
            if batch:  # another lane may have taken everything meanwhile
                return batch

    async def _run(self, lane: _Lane[T]) -> None:
        delay = 0.5
        while True:
            if not lane.held:
                lane.held = await self._gather()
            # Shielded: cancelling the writer must not cut a write off half-way.
            lane.writing = asyncio.ensure_future(self._write_lane(lane))
            try:
                await asyncio.shield(lane.writing)
                delay = 0.5
            except _REFUSED as exc:
                log.warning("%s batch refused (%s); writing it item by item", self.name, exc)
                lane.one_by_one = True
            except _STORE_AWAY as exc:
                log.warning("%s write failed, retrying in %.1fs: %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:
                # Not the store being away: something in the batch the driver or the store
                # refuses (a value out of range, a character a column cannot hold).
                log.exception("%s batch refused; writing it item by item", self.name)
                lane.one_by_one = True
            lane.writing = None

    async def _write_lane(self, lane: _Lane[T]) -> None:
        if lane.one_by_one:
            await self._write_one_by_one(lane)
        elif lane.held:
            await self._write_batch(lane.held)
            self.written += len(lane.held)
        lane.held = []

    async def _write_one_by_one(self, lane: _Lane[T]) -> None:
        """Write the held batch an item at a time; an item the store refuses is dropped
        (counted) so that it cannot hold up everything queued behind it. When the store goes
        away meanwhile, the items not written yet stay held (and are retried one by one)."""
        while lane.held:
            item = lane.held[0]
            try:
                await self._write_batch([item])
                self.written += 1
            except _STORE_AWAY:
                raise
            except Exception as exc:  # noqa: BLE001 - one refused item must not stop the rest
                log.warning("%s dropped an item the store refuses: %s", self.name, exc)
                self._dropped(1)
            del lane.held[0]
        lane.one_by_one = False
