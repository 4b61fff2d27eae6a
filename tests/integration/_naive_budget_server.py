"""`agentdeck serve` with a deliberately naive budget ledger, for the limits tests only.

Check-then-charge, as peers do: a call is admitted while what was spent is under the limit, and
its cost is added only after it ran; nothing is reserved. The multi-process budget test runs
its invariant check against servers started through this launcher and expects it to fail:
proof that the check can see an overspend. Run as a script (not imported by the tests):

    python _naive_budget_server.py serve --config ... --port ...
"""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.cli import main
from agentdeck.errors import BudgetExceededError
from agentdeck.limits.service import WINDOW_S, Budget, BudgetLedger, BudgetReservation, Counts


async def check_then_charge(
    self: BudgetLedger, counts: Counts, budgets: Sequence[Budget], amount_micros: int
) -> tuple[int, BudgetReservation]:
    """Admit while spent < limit; reserve nothing (the settlement adds the actual cost). Rate
    limits are not counted: the budget tests set none."""
    now = self._clock()
    for budget in budgets:
        spent = int(await self._kv.get(self.spent_key(budget, now)) or 0)
        if spent >= budget.limit_micros:
            raise BudgetExceededError(f"naive: {spent} of {budget.limit_micros} spent")
    reservation, _ = self.prepare(budgets, 0, now)
    await self._kv.set(reservation.keys[0], b"0", ttl_s=3600)  # its pending marker
    return int(now // WINDOW_S), reservation


BudgetLedger.admit = check_then_charge  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
