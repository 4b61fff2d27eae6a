"""Exact rate limits and budgets, shared by every replica through `kv`.

Rate limits count requests or tokens in fixed one-minute windows. Budgets reserve a call's
worst-case cost before it runs and settle the actual cost after it; a reservation is always
settled or released, also when the task is cancelled. Each decision is one atomic script over
all the scopes it concerns (key, user, team, project, tenant, alias): they all admit, or none
changes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from agentdeck.errors import BudgetExceededError, RateLimitedError, ServiceUnavailableError
from agentdeck.kv import KV
from agentdeck.limits.scripts import ADMIT, SETTLE

WINDOW_S = 60
_UNBOUNDED = 2**62
Unit = Literal["requests", "tokens"]
Period = Literal["day", "month", "total"]
_PERIOD_TTL_MS = {"day": 2 * 86_400_000, "month": 33 * 86_400_000, "total": 0}
_RATE_TTL_MS = 2 * WINDOW_S * 1000
_PENDING_TTL_MS = 86_400_000  # a settlement later than this after its reservation is dropped
SETTLE_RETRY_PAUSES_S = (0.05, 0.25, 1.0, 4.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scope:
    """Who or what a limit applies to: a key, user, team, project, tenant or model alias."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        """The scope's part of a kv key."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `per_minute` requests (or tokens) per minute for `scope`."""

    scope: Scope
    per_minute: int
    unit: Unit = "requests"


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit_micros` micro-dollars per day, per month or in total for `scope`."""

    scope: Scope
    limit_micros: int
    period: Period = "month"
    soft_percent: int | None = None  # emit a threshold event when spending crosses it
    tenant_id: str = ""  # whose budget, for the threshold event

    def crossed(self, spent_before: int, spent_after: int) -> bool:
        """Whether going from `spent_before` to `spent_after` crosses the soft threshold."""
        if self.soft_percent is None:
            return False
        threshold = self.limit_micros * self.soft_percent // 100
        return spent_before < threshold <= spent_after


def period_ttl_ms(budget: Budget) -> int:
    """How long a budget's counters live in kv: past the end of their period (0: forever)."""
    return _PERIOD_TTL_MS[budget.period]


def _period_tag(period: Period, now: float) -> str:
    moment = time.gmtime(now)
    if period == "day":
        return time.strftime("%Y%m%d", moment)
    if period == "month":
        return time.strftime("%Y%m", moment)
    return "all"


Counts = Sequence[tuple[Sequence[RateLimit], int]]  # rate limits, and the amount to count


def _rate_key(limit: RateLimit, window: int) -> str:
    return f"rl:{limit.unit}:{limit.scope.key}:{window}"


def _rate_args(counts: Counts, window: int, unbounded: bool = False) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    args: list[int] = []
    for limits, amount in counts:
        for limit in limits:
            keys.append(_rate_key(limit, window))
            args += (amount, _UNBOUNDED if unbounded else limit.per_minute)
    return keys, args


def _rate_refusal(limit: RateLimit, count: int, now: float, window: int) -> RateLimitedError:
    reset = max(1, math.ceil((window + 1) * WINDOW_S - now))
    unit = limit.unit
    return RateLimitedError(
        f"rate limit of {limit.per_minute} {unit} per minute for {limit.scope.kind} "
        f"{limit.scope.id!r} reached; try again in {reset}s",
        headers={
            "retry-after": str(reset),
            f"x-ratelimit-limit-{unit}": str(limit.per_minute),
            f"x-ratelimit-remaining-{unit}": str(max(0, limit.per_minute - count)),
            f"x-ratelimit-reset-{unit}": f"{reset}s",
        },
    )


class RateLimiter:
    """Admits or refuses requests (and tokens) against per-minute limits."""

    def __init__(self, kv: KV, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._clock = clock

    async def admit(self, limits: Sequence[RateLimit], amount: int = 1) -> int:
        """Count `amount` against every limit, or raise RateLimitedError naming the first one
        that would be exceeded (nothing is counted then). Returns the minute it counted in."""
        now = self._clock()
        window = int(now // WINDOW_S)
        if limits:
            keys, pairs = _rate_args([(limits, amount)], window)
            admitted, index, count = await self._kv.run(
                ADMIT, keys, [len(keys), 0, _RATE_TTL_MS, 0, 0, 0, *pairs]
            )  # type: ignore[misc]
            if not admitted:
                raise _rate_refusal(limits[index - 1], count, now, window)
        return window

    async def record(
        self, limits: Sequence[RateLimit], amount: int, window: int | None = None
    ) -> None:
        """Count `amount` (negative: give back) against every limit without refusing: tokens
        are known only after a call; the next admission sees them. A correction of what was
        admitted goes to the minute `admit` returned, however long the call took."""
        if limits and amount:
            if window is None:
                window = int(self._clock() // WINDOW_S)
            keys, pairs = _rate_args([(limits, amount)], window, unbounded=True)
            await self._kv.run(ADMIT, keys, [len(keys), 0, _RATE_TTL_MS, 0, 0, 0, *pairs])


@dataclass(slots=True)
class BudgetReservation:
    """A reserved worst-case cost; `settle` or `release` it exactly once (later calls do
    nothing), and it is finished even if the caller is cancelled meanwhile."""

    ledger: BudgetLedger
    budgets: Sequence[Budget]
    keys: list[str]  # the pending marker, then (spent, reserved) per budget
    amount: int
    ttl_ms: int
    done: bool = field(default=False)

    async def settle(self, actual_micros: int) -> None:
        """Replace the reservation by the actual cost."""
        if self.done:
            return
        self.done = True
        finish = self.ledger.finish(self, max(0, actual_micros))
        if self.ledger.uninterruptible:
            await finish  # the in-process kv answers without suspending: nothing to shield
        else:
            # Shielded: a cancelled caller must not leave its reservation behind.
            await asyncio.shield(finish)

    async def release(self) -> None:
        """Give the whole reservation back (nothing was spent)."""
        await self.settle(0)


class BudgetLedger:
    """Reserves and settles against budgets.

    Reserved amounts are counted per hold period of `hold_s` seconds and a reservation weighs
    on its own period and the next: a call of up to `hold_s` is always covered, and what a
    process that died mid-call had reserved is free again after at most twice `hold_s`. Each
    reservation has a pending marker that its settlement removes, so a settlement whose answer
    was lost can be sent again without counting twice.
    """

    def __init__(
        self,
        kv: KV,
        clock: Callable[[], float] = time.time,
        on_threshold: Callable[[Budget, int], None] | None = None,
        hold_s: int = 1800,
        retry_pauses_s: Sequence[float] = SETTLE_RETRY_PAUSES_S,
    ) -> None:
        self._kv = kv
        self._clock = clock
        self._on_threshold = on_threshold
        self._hold_s = hold_s
        self._hold_ms = 2 * hold_s * 1000 + 60_000
        self._retry_pauses_s = retry_pauses_s
        self._keys: dict[tuple[Scope, str, int], str] = {}
        self._ids = itertools.count()
        self._prefix = f"budget:pending:{os.urandom(6).hex()}:"
        self._orphans: set[asyncio.Future[None]] = set()

    @property
    def uninterruptible(self) -> bool:
        """Whether kv calls complete without suspending (the in-process backend)."""
        return self._kv.backend == "memory"

    def spent_key(self, budget: Budget, now: float) -> str:
        """The spent counter of a budget's current period (cached per hour: formatting the
        period tag costs more than the rest of a reservation)."""
        cache_key = (budget.scope, budget.period, int(now // 3600))
        found = self._keys.get(cache_key)
        if found is None:
            tag = _period_tag(budget.period, now)
            found = f"budget:{budget.scope.key}:{budget.period}:{tag}:spent"
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[cache_key] = found
        return found

    def reserved_keys(self, budget: Budget, now: float) -> tuple[str, str]:
        """The reserved counters of the current and the previous hold period."""
        hold = int(now // self._hold_s)
        base = f"budget:{budget.scope.key}:{budget.period}:reserved:"
        return f"{base}{hold}", f"{base}{hold - 1}"

    def prepare(
        self, budgets: Sequence[Budget], amount_micros: int, now: float
    ) -> tuple[BudgetReservation, list[str]]:
        """A reservation of `amount_micros` under `budgets` (not yet made) and the keys its
        ADMIT script takes (after any rate counters)."""
        pending = f"{self._prefix}{next(self._ids)}"
        reserve_keys, settle_keys = [pending], [pending]
        for budget in budgets:
            spent = self.spent_key(budget, now)
            current, previous = self.reserved_keys(budget, now)
            reserve_keys += (spent, current, previous)
            settle_keys += (spent, current)
        ttl_ms = max((_PERIOD_TTL_MS[b.period] for b in budgets), default=0)
        reservation = BudgetReservation(self, budgets, settle_keys, amount_micros, ttl_ms)
        return reservation, reserve_keys

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> BudgetReservation:
        """Reserve `amount_micros` under every budget, or raise BudgetExceededError."""
        _, reservation = await self.admit((), budgets, amount_micros)
        return reservation

    async def admit(
        self, counts: Counts, budgets: Sequence[Budget], amount_micros: int
    ) -> tuple[int, BudgetReservation]:
        """In one atomic step, count every (rate limits, amount) of `counts` and reserve
        `amount_micros` under every budget: all of it, or nothing and RateLimitedError or
        BudgetExceededError naming the first limit in the way. Returns the minute the rate
        counters counted in, and the reservation."""
        now = self._clock()
        window = int(now // WINDOW_S)
        keys, args = _rate_args(counts, window)
        rates = len(keys)
        if budgets:
            reservation, budget_keys = self.prepare(budgets, amount_micros, now)
            keys += budget_keys
            args += (b.limit_micros for b in budgets)
        else:
            reservation = BudgetReservation(self, budgets, [], amount_micros, 0)
            if not rates:
                return window, reservation
        head = [rates, len(budgets), _RATE_TTL_MS, self._hold_ms, _PENDING_TTL_MS, amount_micros]
        script = self._kv.run(ADMIT, keys, head + args)
        if self._kv.backend == "memory" or not budgets:
            # The in-process kv runs and answers without suspending: nothing can come between.
            admitted, index, used = await script  # type: ignore[misc]
        else:
            run = asyncio.ensure_future(script)
            try:
                admitted, index, used = await asyncio.shield(run)  # type: ignore[misc]
            except asyncio.CancelledError:
                # The script may have run with its answer still on the way: once it arrives,
                # give back what it reserved, or the reservation would outlive the call.
                run.add_done_callback(partial(self._release_orphan, reservation))
                raise
        if admitted:
            return window, reservation
        if index <= rates:
            limits = [limit for limits, _ in counts for limit in limits]
            raise _rate_refusal(limits[index - 1], used, now, window)
        budget = budgets[index - rates - 1]
        raise BudgetExceededError(
            f"{budget.period} budget of {budget.scope.kind} {budget.scope.id!r} would "
            f"be exceeded: {used} of {budget.limit_micros} micro-dollars used or "
            f"reserved, this request may cost up to {amount_micros}"
        )

    def _release_orphan(self, reservation: BudgetReservation, run: asyncio.Future[Any]) -> None:
        if run.cancelled() or run.exception() is not None or not run.result()[0]:
            return
        task = asyncio.ensure_future(reservation.release())
        self._orphans.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._orphans.discard)

    async def finish(self, reservation: BudgetReservation, actual_micros: int) -> None:
        """Take a reservation back and record the actual cost. When shared state does not
        answer, the settlement is sent again (it counts once); after the last attempt the
        reservation is left to expire with its hold period, and the spend ledger still has
        the cost (counters are raised from it on the next start)."""
        if not reservation.keys:
            return
        args = [reservation.amount, actual_micros, reservation.ttl_ms]
        for pause in (*self._retry_pauses_s, None):
            try:
                spent_after = await self._kv.run(SETTLE, reservation.keys, args)
                break
            except ServiceUnavailableError as exc:
                if pause is None:
                    log.warning(
                        "could not settle a budget reservation of %d micro-dollars (%s); it "
                        "expires within %d s",
                        reservation.amount,
                        exc.message,
                        2 * self._hold_s,
                    )
                    return
                await asyncio.sleep(pause)
        if self._on_threshold is not None and actual_micros:
            assert isinstance(spent_after, list)
            for budget, spent in zip(reservation.budgets, spent_after, strict=False):
                if budget.crossed(int(spent) - actual_micros, int(spent)):
                    self._on_threshold(budget, int(spent))

    async def usage(self, budget: Budget) -> tuple[int, int]:
        """(spent, reserved) micro-dollars of a budget's current period."""
        now = self._clock()
        spent = int(await self._kv.get(self.spent_key(budget, now)) or 0)
        reserved = [int(await self._kv.get(key) or 0) for key in self.reserved_keys(budget, now)]
        return spent, sum(reserved)
