"""The circuit breaker of one deployment, and the board that shares breakers between replicas."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from agentdeck.gateway.breaker import Breaker, BreakerBoard, BreakerState
from agentdeck.kv import MemoryKV
from agentdeck.settings import BreakerSettings
from agentdeck.tracing.metrics import Metrics

OPEN, HALF_OPEN, CLOSED = BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED


def _breaker(**changes: float) -> Breaker:
    values = {
        "consecutive_failures": 3,
        "error_rate": 0.5,
        "window_s": 10,
        "min_calls": 10,
        "open_s": 5,
        **changes,
    }
    return Breaker(BreakerSettings(**values))


def _tripped(at: float = 100.0) -> Breaker:
    breaker = _breaker()
    for _ in range(3):
        breaker.record(False, at)
    assert breaker.state is OPEN
    return breaker


def test_consecutive_failures_open_the_breaker_for_open_s() -> None:
    breaker = _breaker()
    assert [breaker.record(False, 100.0), breaker.record(False, 100.1)] == [None, None]
    assert breaker.allow(100.1) is True
    assert breaker.record(False, 100.2) is OPEN
    assert (breaker.state, breaker.open_until) == (OPEN, pytest.approx(105.2))
    assert [breaker.allow(100.3), breaker.allow(105.1)] == [False, False]


def test_a_success_between_failures_resets_the_consecutive_count() -> None:
    breaker = _breaker()
    outcomes = [False, False, True, False, False]
    assert [breaker.record(ok, 100.0) for ok in outcomes] == [None] * 5
    assert breaker.state is CLOSED
    assert breaker.record(False, 100.0) is OPEN  # now three in a row


def test_error_rate_trips_only_once_min_calls_were_seen() -> None:
    breaker = _breaker(consecutive_failures=100)
    outcomes = [False, True] * 5 + [False]  # never two failures in a row
    changes = [breaker.record(ok, 200.0 + i / 10) for i, ok in enumerate(outcomes)]
    # The 9th call (5 of 9 failed) is under min_calls; the 10th succeeded; the 11th: 6 of 11.
    assert changes == [None] * 10 + [OPEN]


def test_error_rate_forgets_outcomes_older_than_the_window() -> None:
    breaker = _breaker(consecutive_failures=100, min_calls=4)
    assert [breaker.record(False, 0.0) for _ in range(3)] == [None] * 3
    # 20 s later the three old failures are out of the 10 s window: 1 failure in 4 calls.
    assert [breaker.record(ok, 20.0) for ok in (True, True, True, False)] == [None] * 4
    assert breaker.state is CLOSED
    # 2 of 5 is under the rate; 3 of 6 reaches it.
    assert [breaker.record(False, 20.5), breaker.record(False, 20.5)] == [None, OPEN]


def test_half_open_admits_exactly_one_probe() -> None:
    breaker = _tripped(at=100.0)
    assert breaker.allow(104.99) is False
    assert breaker.allow(105.0) is True
    assert breaker.state is HALF_OPEN
    assert [breaker.allow(105.0), breaker.allow(105.5), breaker.allow(300.0)] == [False] * 3


def test_a_failed_probe_opens_the_breaker_again() -> None:
    breaker = _tripped(at=100.0)
    assert breaker.allow(106.0) is True
    assert breaker.record(False, 106.5) is OPEN
    assert breaker.open_until == pytest.approx(111.5)
    assert breaker.allow(111.4) is False
    assert breaker.allow(111.5) is True  # the next probe


def test_a_successful_probe_closes_the_breaker_with_clean_counts() -> None:
    breaker = _tripped(at=100.0)
    assert breaker.allow(106.0) is True
    assert breaker.record(True, 106.1) is CLOSED
    assert [breaker.allow(106.2) for _ in range(5)] == [True] * 5
    assert [breaker.record(False, 106.3), breaker.record(False, 106.3)] == [None, None]
    assert breaker.record(False, 106.3) is OPEN  # three fresh failures, no more


def _board(kv: MemoryKV | None = None) -> tuple[BreakerBoard, Metrics]:
    settings = BreakerSettings(consecutive_failures=2, open_s=30)
    metrics = Metrics()
    return BreakerBoard(settings, MemoryKV() if kv is None else kv, metrics), metrics


def _gauge(metrics: Metrics, deployment: str) -> float | None:
    return metrics.registry.get_sample_value(
        "agentdeck_gateway_breaker_state", {"deployment": deployment}
    )


def test_applied_messages_open_and_close_the_breaker_and_move_the_gauge() -> None:
    board, metrics = _board()
    until = time.time() + 30
    board.apply(orjson.dumps({"deployment": "d1", "state": 2, "until": until}))
    assert (board.state("d1"), board.allow("d1"), _gauge(metrics, "d1")) == (OPEN, False, 2)
    board.apply(orjson.dumps({"deployment": "d1", "state": 0, "until": 0}))
    assert (board.state("d1"), board.allow("d1"), _gauge(metrics, "d1")) == (CLOSED, True, 0)


@pytest.mark.parametrize(
    "message",
    [
        b"not json",
        b'{"deployment": "d1"}',
        b'{"deployment": "d1", "state": 7, "until": 0}',
        b'{"deployment": "d1", "state": 2, "until": "soon"}',
        b"[1, 2]",
    ],
)
def test_malformed_messages_are_ignored(message: bytes) -> None:
    board, metrics = _board()
    board.apply(message)
    assert (board.state("d1"), board.allow("d1")) == (CLOSED, True)
    assert _gauge(metrics, "d1") in (None, 0)


async def test_an_opened_breaker_reaches_a_running_replica_and_one_that_starts_later() -> None:
    kv = MemoryKV()
    first, first_metrics = _board(kv)
    second, second_metrics = _board(kv)
    await first.start(["d1"])
    await second.start(["d1"])
    try:
        first.record("d1", False)
        first.record("d1", False)
        assert first.state("d1") is OPEN
        assert _gauge(first_metrics, "d1") == 2
        for _ in range(100):  # the change travels through kv pub/sub
            if second.state("d1") is OPEN:
                break
            await asyncio.sleep(0.01)
        assert second.state("d1") is OPEN
        assert second.allow("d1") is False
        assert _gauge(second_metrics, "d1") == 2
        stored = await kv.get("breaker:d1")
        assert stored is not None
        assert 29 < float(stored) - time.time() <= 30
        late, _ = _board(kv)
        await late.start(["d1", "d2"])
        assert (late.state("d1"), late.state("d2")) == (OPEN, CLOSED)
        await late.stop()
    finally:
        await first.stop()
        await second.stop()
