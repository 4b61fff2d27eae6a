"""The batch writer on its own (no store): batches of the configured size, writes in flight
at once up to its concurrency, a refused batch written item by item, a store that goes away
meanwhile retried without losing or repeating an item, and a stop that writes everything."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from agentdeck.db.batch_writer import BatchWriter


class FakeStore:
    """Records what it is given; can hold writes open, refuse items or be away."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.batches: list[list[int]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # when set, writes wait for it
        self.refused: set[int] = set()  # items whose batch the store refuses
        self.away_once: set[int] = set()  # items that meet the store away, the first time

    async def write(self, batch: list[int]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            if self.refused & set(batch):
                raise sa.exc.DataError("INSERT", None, ValueError("refused"))
            away = self.away_once & set(batch)
            if away:
                self.away_once -= away
                raise sa.exc.OperationalError("INSERT", None, OSError("store away"))
            self.batches.append(list(batch))
            self.written.extend(batch)
        finally:
            self.in_flight -= 1


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_two_writes_are_in_flight_at_once_with_a_concurrency_of_two() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    writer = BatchWriter("test", store.write, batch=10, interval_s=0.01, concurrency=2)
    assert writer.add_many(list(range(30)))
    await writer.start()
    await _until(lambda: store.in_flight == 2)
    assert writer.queued == 10  # two batches of 10 held by the writes, one still queued
    assert writer.pending == 30
    store.gate.set()
    await _until(lambda: writer.written == 30)
    await writer.stop()

    assert store.most_in_flight == 2
    assert sorted(store.written) == list(range(30))
    assert [len(batch) for batch in store.batches] == [10, 10, 10]


async def test_one_write_at_a_time_by_default() -> None:
    store = FakeStore()
    writer = BatchWriter("test", store.write, batch=10, interval_s=0.01)
    writer.add_many(list(range(50)))
    await writer.start()
    await _until(lambda: writer.written == 50)
    await writer.stop()
    assert store.most_in_flight == 1
    assert store.written == list(range(50))  # in order


async def test_a_refused_batch_is_written_item_by_item_and_only_the_refused_item_dropped() -> None:
    store = FakeStore()
    store.refused = {3}
    drops: list[int] = []
    writer = BatchWriter("test", store.write, batch=5, interval_s=0.01, on_drop=drops.append)
    writer.add_many(list(range(10)))
    await writer.start()
    await _until(lambda: writer.written + writer.dropped == 10)
    await writer.stop()
    assert sorted(store.written) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert writer.dropped == 1
    assert drops == [1]


async def test_a_store_that_goes_away_while_items_are_written_one_by_one_loses_nothing() -> None:
    """Item by item, the store goes away at the third item: the writer keeps the items not
    written yet, retries them after a pause, writes none of them twice, and keeps running."""
    store = FakeStore()
    store.refused = {0}  # the batch is refused whole, so it is written item by item
    store.away_once = {2}
    writer = BatchWriter("test", store.write, batch=5, interval_s=0.01)
    writer.add_many(list(range(5)))
    await writer.start()
    await _until(lambda: writer.written == 4, timeout_s=10)
    assert writer.running
    await writer.stop()
    assert store.written == [1, 2, 3, 4]  # 0 refused, 2 retried after the store came back
    assert writer.dropped == 1


async def test_stop_lets_the_writes_under_way_end_and_writes_the_rest() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    writer = BatchWriter("test", store.write, batch=10, interval_s=0.01, concurrency=2)
    writer.add_many(list(range(35)))
    await writer.start()
    await _until(lambda: store.in_flight == 2)
    stopping = asyncio.create_task(writer.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the two writes under way
    store.gate.set()
    await stopping
    assert sorted(store.written) == list(range(35))
    assert writer.pending == 0
    assert not writer.running


async def test_running_is_false_before_start_and_after_stop() -> None:
    writer = BatchWriter("test", FakeStore().write)
    assert not writer.running
    await writer.start()
    assert writer.running
    await writer.stop()
    assert not writer.running


def test_a_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        BatchWriter("test", FakeStore().write, concurrency=0)
