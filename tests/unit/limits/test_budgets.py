"""Budgets: reserve the worst case, settle the actual, never overspend, never leak.

The invariant test runs a mixed workload (cancelled clients, failed calls, calls that cost
less than reserved) while a monitor samples spent + reserved; a deliberately naive
check-then-charge ledger runs the same workload and must be caught overspending.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from agentdeck.errors import BudgetExceededError, RateLimitedError, ServiceUnavailableError
from agentdeck.kv import KV
from agentdeck.limits.scripts import SETTLE
from agentdeck.limits.service import Budget, BudgetLedger, RateLimit, RateLimiter, Scope

TENANT = Scope("tenant", "t1")
DOLLAR = 1_000_000


async def test_reserve_settle_release(kv: KV) -> None:
    ledger = BudgetLedger(kv, lambda: 1_795_000_000.0)
    budget = Budget(TENANT, 10_000, "day")
    first = await ledger.reserve([budget], 6_000)
    assert await ledger.usage(budget) == (0, 6_000)
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve([budget], 5_000)
    assert caught.value.wire_code == "budget_exceeded"
    assert "6000 of 10000 micro-dollars used or reserved" in caught.value.message
    await first.settle(2_500)
    await first.settle(9_999)  # a second settle changes nothing
    assert await ledger.usage(budget) == (2_500, 0)
    second = await ledger.reserve([budget], 7_500)  # exactly up to the limit
    await second.release()
    assert await ledger.usage(budget) == (2_500, 0)


async def test_periods_have_their_own_counters(kv: KV) -> None:
    now = [1_795_000_000.0]
    ledger = BudgetLedger(kv, lambda: now[0])
    daily = Budget(TENANT, 100, "day")
    await (await ledger.reserve([daily], 100)).settle(100)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve([daily], 1)
    now[0] += 86_400  # the next day
    await (await ledger.reserve([daily], 100)).settle(100)


class LosingReplies:
    """A kv whose first `lose` settlements answer with an outage: after running, as when the
    reply of a shared store is lost on the way back, or (`reach=False`) without running."""

    def __init__(self, kv: KV, lose: int, reach: bool = True) -> None:
        self._kv, self.lose, self.reach, self.backend = kv, lose, reach, kv.backend

    async def run(self, script: Any, keys: Any, args: Any) -> Any:
        if script is SETTLE and self.lose and not self.reach:
            self.lose -= 1
            raise ServiceUnavailableError("shared state (Redis) did not answer")
        result = await self._kv.run(script, keys, args)
        if script is SETTLE and self.lose:
            self.lose -= 1
            raise ServiceUnavailableError("shared state (Redis) did not answer")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)


async def test_a_settlement_whose_answer_was_lost_is_retried_and_counts_once(kv: KV) -> None:
    flaky = LosingReplies(kv, lose=2)
    ledger = BudgetLedger(flaky, lambda: 1_795_000_000.0, retry_pauses_s=(0, 0))  # type: ignore[arg-type]
    budget = Budget(TENANT, 10_000, "day")
    reservation = await ledger.reserve([budget], 6_000)
    await reservation.settle(2_000)
    assert flaky.lose == 0  # both lost answers were retried
    assert await ledger.usage(budget) == (2_000, 0)
    await ledger.finish(reservation, 2_000)  # sent again by hand: still counted once
    assert await ledger.usage(budget) == (2_000, 0)


async def test_a_settlement_that_never_gets_through_leaves_the_hold_to_expire(kv: KV) -> None:
    flaky = LosingReplies(kv, lose=2, reach=False)  # more outages than attempts
    now = [1_795_000_000.0]
    ledger = BudgetLedger(flaky, lambda: now[0], hold_s=600, retry_pauses_s=(0,))  # type: ignore[arg-type]
    budget = Budget(TENANT, 10_000, "day")
    reservation = await ledger.reserve([budget], 6_000)
    await reservation.settle(3_000)  # gives up without raising: the call itself succeeded
    assert flaky.lose == 0
    assert await ledger.usage(budget) == (0, 6_000)  # still held, as if its process had died
    now[0] += 1_200
    assert await ledger.usage(budget) == (0, 0)


async def test_a_dead_process_reservation_frees_itself_after_two_holds(kv: KV) -> None:
    now = [1_795_000_000.0 - 1_795_000_000.0 % 600 + 599]  # the last second of a hold period
    ledger = BudgetLedger(kv, lambda: now[0], hold_s=600)
    budget = Budget(TENANT, 10_000, "day")
    await ledger.reserve([budget], 6_000)  # never settled: its process died
    for later in (0, 1, 598):  # still covered a whole hold period (600 s) later
        now[0] += later
        with pytest.raises(BudgetExceededError):
            await ledger.reserve([budget], 5_000)
    now[0] += 2  # in the second period after its own: the abandoned reservation is gone
    assert await ledger.usage(budget) == (0, 0)
    await (await ledger.reserve([budget], 10_000)).release()


async def test_a_late_settlement_still_records_the_spend_once(kv: KV) -> None:
    now = [1_795_000_000.0]
    ledger = BudgetLedger(kv, lambda: now[0], hold_s=600)
    budget = Budget(TENANT, 10_000, "day")
    reservation = await ledger.reserve([budget], 6_000)
    now[0] += 1_500  # a call longer than its hold (still within the day)
    await reservation.settle(4_000)
    assert await ledger.usage(budget) == (4_000, 0)
    await ledger.finish(reservation, 4_000)
    assert await ledger.usage(budget) == (4_000, 0)


class NaiveLedger:
    """Check-then-charge, as peers do: read what was spent, call, then add the cost."""

    def __init__(self, kv: KV, budget: Budget) -> None:
        self._kv, self._key = kv, f"naive:{budget.scope.key}"
        self._limit = budget.limit_micros

    async def reserve(self, amount: int) -> Any:
        spent = int(await self._kv.get(self._key) or 0)
        if spent + amount > self._limit:
            raise BudgetExceededError("over")
        kv, key = self._kv, self._key

        class Charge:
            async def settle(self, actual: int) -> None:
                await kv.incr(key, actual)

            async def release(self) -> None:
                return None

        return Charge()

    async def used(self) -> int:
        return int(await self._kv.get(self._key) or 0)


async def _workload(reserve: Any, used: Any, budget_micros: int, seed: int) -> tuple[int, int]:
    """200 calls of worst case 10,000; returns (highest spent+reserved seen, sum of actuals)."""
    rng = random.Random(seed)
    actual_total = 0
    peak = 0
    stop = asyncio.Event()

    async def monitor() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, await used())
            await asyncio.sleep(0)

    async def call(n: int) -> None:
        nonlocal actual_total
        try:
            reservation = await reserve(10_000)
        except BudgetExceededError:
            return
        fate = rng.random()
        try:
            await asyncio.sleep(rng.random() / 100)
            if fate < 0.2:
                raise asyncio.CancelledError  # the client went away mid-call
            if fate < 0.3:
                raise ConnectionError("upstream 5xx")
            actual = rng.randint(1_000, 10_000)
            await reservation.settle(actual)
            actual_total += actual
        except (asyncio.CancelledError, ConnectionError):
            await reservation.release()

    watcher = asyncio.create_task(monitor())
    await asyncio.gather(*(call(n) for n in range(200)))
    stop.set()
    await watcher
    peak = max(peak, await used())
    return peak, actual_total


async def test_never_overspends_and_reserved_returns_to_zero(kv: KV) -> None:
    ledger = BudgetLedger(kv, lambda: 1_795_000_000.0)
    budget = Budget(TENANT, DOLLAR // 10, "total")  # $0.10: about 10 calls' worst case

    async def used() -> int:
        spent, reserved = await ledger.usage(budget)
        return spent + reserved

    peak, actual_total = await _workload(
        lambda amount: ledger.reserve([budget], amount), used, budget.limit_micros, seed=7
    )
    spent, reserved = await ledger.usage(budget)
    assert peak <= budget.limit_micros
    assert reserved == 0
    assert spent == actual_total
    assert actual_total > 0


async def test_the_same_workload_catches_a_naive_ledger(kv: KV) -> None:
    budget = Budget(Scope("tenant", "naive"), DOLLAR // 10, "total")
    naive = NaiveLedger(kv, budget)
    peak, actual_total = await _workload(naive.reserve, naive.used, budget.limit_micros, seed=7)
    assert actual_total > budget.limit_micros  # concurrent checks all passed: overspent
    assert peak > budget.limit_micros


async def test_one_admission_counts_rates_and_reserves_budget_all_or_nothing(kv: KV) -> None:
    now = 1_795_000_020.0
    ledger = BudgetLedger(kv, lambda: now)
    limiter = RateLimiter(kv, lambda: now)
    per_minute = RateLimit(Scope("key", "k1"), 2)
    tokens = RateLimit(Scope("key", "k1"), 1_000, "tokens")
    budget = Budget(TENANT, 10_000, "day")
    counts = [((per_minute,), 1), ((tokens,), 300)]
    window, held = await ledger.admit(counts, [budget], 6_000)
    assert window == int(now // 60)
    assert await ledger.usage(budget) == (0, 6_000)
    with pytest.raises(BudgetExceededError):  # the budget is in the way...
        await ledger.admit(counts, [budget], 6_000)
    await limiter.admit([per_minute])  # ...so the refused call counted no request
    with pytest.raises(RateLimitedError) as caught:  # the rate is in the way...
        await ledger.admit(counts, [budget], 1_000)
    assert "2 requests per minute for key 'k1'" in caught.value.message
    assert await ledger.usage(budget) == (0, 6_000)  # ...so nothing more was reserved
    await limiter.admit([tokens], 700)  # and no tokens were counted by either refusal
    with pytest.raises(RateLimitedError):
        await limiter.admit([tokens], 1)
    await held.settle(1_000)
    assert await ledger.usage(budget) == (1_000, 0)
