"""A circuit breaker per tool, in this process: after N consecutive upstream failures a tool is
refused for `open_s` seconds (a structured `circuit_open` error, no call), then one probe is let
through; its success closes the breaker, its failure opens it again.

Per process on purpose: a tool's upstream failing is seen by every replica within N calls, and
the decision costs no I/O (the gateway's deployment breakers share state through kv because
provider outages are worth routing around at once; a tool has no alternative to route to)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class ToolBreakers:
    """The breakers of every tool, keyed by (tenant, tool name)."""

    def __init__(
        self, failures: int, open_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures
        self._open_s = open_s
        self._clock = clock
        self._states: dict[tuple[str, str], _State] = {}

    def allow(self, key: tuple[str, str]) -> bool:
        """Take the right to call now: always while closed; one probe once open time is up."""
        state = self._states.get(key)
        if state is None or state.failures < self._failures:
            return True
        if self._clock() < state.open_until or state.probing:
            return False
        state.probing = True
        return True

    def record(self, key: tuple[str, str], ok: bool) -> None:
        """Count a call's outcome (only upstream faults count as failures)."""
        if ok:
            self._states.pop(key, None)
            return
        state = self._states.setdefault(key, _State())
        state.failures += 1
        state.probing = False
        if state.failures >= self._failures:
            state.open_until = self._clock() + self._open_s

    def release(self, key: tuple[str, str]) -> None:
        """Give a probe's right back without an outcome (the call ended for another reason)."""
        state = self._states.get(key)
        if state is not None:
            state.probing = False

    def state(self, key: tuple[str, str]) -> str:
        """`closed`, `open` or `half_open`."""
        found = self._states.get(key)
        if found is None or found.failures < self._failures:
            return "closed"
        return "open" if self._clock() < found.open_until else "half_open"
