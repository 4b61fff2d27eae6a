"""Circuit breakers per deployment, shared across replicas through `kv`.

Decisions are local and cost no I/O on the request path: each process counts outcomes itself.
When a breaker opens or closes, the process writes the state to kv and publishes it, and every
other replica applies it at once; a replica that starts later reads the open ones from kv.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from enum import IntEnum
from typing import Any

import orjson

from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower
from agentdeck.settings import BreakerSettings
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)
CHANNEL = "gateway.breakers"


class BreakerState(IntEnum):
    """The breaker's position; its value is the `agentdeck_gateway_breaker_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    """One deployment's breaker: opens after N consecutive failures or an error rate over a
    window; after `open_s` lets one probe through (half-open); a good probe closes it."""

    def __init__(self, settings: BreakerSettings) -> None:
        self._settings = settings
        self.state = BreakerState.CLOSED
        self.open_until = 0.0
        self._consecutive = 0
        self._window: deque[tuple[int, int, int]] = deque()  # (second, calls, failures)
        self._probing = False

    def available(self, now: float) -> bool:
        """Whether a call could go to this deployment now; changes nothing."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now < self.open_until:
            return False
        return not self._probing

    def allow(self, now: float) -> bool:
        """Take the right to call now: always when closed; a half-open breaker admits one
        probe at a time, until its outcome is recorded or `release`d."""
        if not self.available(now):
            return False
        if self.state is not BreakerState.CLOSED:
            self.state = BreakerState.HALF_OPEN
            self._probing = True
        return True

    def release(self) -> None:
        """The probe ended with an outcome that says nothing of the deployment's health (the
        caller's error, a rate limit, a cancellation): let the next call probe instead."""
        self._probing = False

    def _count(self, now: float, failed: bool) -> tuple[int, int]:
        second = int(now)
        horizon = second - int(self._settings.window_s)
        while self._window and self._window[0][0] <= horizon:
            self._window.popleft()
        if self._window and self._window[-1][0] == second:
            _, calls, failures = self._window[-1]
            self._window[-1] = (second, calls + 1, failures + int(failed))
        else:
            self._window.append((second, 1, int(failed)))
        return sum(c for _, c, _ in self._window), sum(f for _, _, f in self._window)

    def record(self, ok: bool, now: float) -> BreakerState | None:
        """Count an outcome; returns the new state when this outcome changed it."""
        calls, failures = self._count(now, not ok)
        if ok:
            self._consecutive = 0
            if self.state is not BreakerState.CLOSED:
                self.close()
                return BreakerState.CLOSED
            return None
        self._consecutive += 1
        s = self._settings
        tripped = self._consecutive >= s.consecutive_failures or (
            calls >= s.min_calls and failures / calls >= s.error_rate
        )
        if self.state is BreakerState.HALF_OPEN or (self.state is BreakerState.CLOSED and tripped):
            self.open(now + s.open_s)
            return BreakerState.OPEN
        return None

    def open(self, until: float) -> None:
        """Refuse calls until `until` (monotonic seconds)."""
        self.state = BreakerState.OPEN
        self.open_until = until
        self._probing = False

    def close(self) -> None:
        """Admit calls again, with clean counts."""
        self.state = BreakerState.CLOSED
        self._consecutive = 0
        self._window.clear()
        self._probing = False


class BreakerBoard:
    """The breakers of every deployment, kept in step with other replicas through kv."""

    def __init__(self, settings: BreakerSettings, kv: KV, metrics: Metrics) -> None:
        self._settings = settings
        self._kv = kv
        self._metrics = metrics
        self._breakers: dict[str, Breaker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._follower = ChannelFollower(kv, CHANNEL, self.apply)

    def _get(self, deployment_id: str) -> Breaker:
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            breaker = self._breakers[deployment_id] = Breaker(self._settings)
        return breaker

    def state(self, deployment_id: str) -> BreakerState:
        """The deployment's breaker state."""
        return self._get(deployment_id).state

    def available(self, deployment_id: str) -> bool:
        """Whether a call could go to the deployment now (for ordering; takes nothing)."""
        return self._get(deployment_id).available(time.monotonic())

    def release(self, deployment_id: str) -> None:
        """A call ended with an outcome that does not count for or against the deployment."""
        self._get(deployment_id).release()

    def allow(self, deployment_id: str) -> bool:
        """Take the right to call the deployment now (a half-open one admits one probe)."""
        breaker = self._get(deployment_id)
        allowed = breaker.allow(time.monotonic())
        self._gauge(deployment_id, breaker.state)
        return allowed

    def record(self, deployment_id: str, ok: bool) -> None:
        """Count an outcome; a change of state is shared with the other replicas."""
        changed = self._get(deployment_id).record(ok, time.monotonic())
        if changed is not None:
            self._gauge(deployment_id, changed)
            log.warning("breaker of %s is now %s", deployment_id, changed.name.lower())
            self._spawn(self._share(deployment_id, changed))

    def _gauge(self, deployment_id: str, state: BreakerState) -> None:
        self._metrics.breaker_state.labels(deployment_id).set(int(state))

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _share(self, deployment_id: str, state: BreakerState) -> None:
        key = f"breaker:{deployment_id}"
        try:
            if state is BreakerState.OPEN:
                wall_until = time.time() + self._settings.open_s
                await self._kv.set(key, str(wall_until).encode(), ttl_s=self._settings.open_s)
            else:
                await self._kv.delete(key)
                wall_until = 0.0
            message = {"deployment": deployment_id, "state": int(state), "until": wall_until}
            await self._kv.publish(CHANNEL, orjson.dumps(message))
        except Exception as exc:  # noqa: BLE001 - kv down: the local breaker still acts, logged
            log.warning("could not share breaker state of %s: %s", deployment_id, exc)

    def apply(self, message: bytes) -> None:
        """Apply a state change published by another replica (or this one: idempotent)."""
        try:
            change = orjson.loads(message)
            deployment_id, state = str(change["deployment"]), BreakerState(change["state"])
            until = float(change["until"])
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
            log.warning("ignoring a malformed breaker message: %r", message[:200])
            return
        breaker = self._get(deployment_id)
        if state is BreakerState.OPEN:
            breaker.open(time.monotonic() + max(0.0, until - time.time()))
        elif breaker.state is not BreakerState.CLOSED:
            breaker.close()
        self._gauge(deployment_id, breaker.state)

    async def start(self, deployment_ids: list[str]) -> None:
        """Load breakers already open on other replicas, then follow their changes."""
        try:
            for deployment_id in deployment_ids:
                self._gauge(deployment_id, BreakerState.CLOSED)
                raw = await self._kv.get(f"breaker:{deployment_id}")
                if raw is not None:
                    until = float(raw)
                    self._get(deployment_id).open(time.monotonic() + max(0.0, until - time.time()))
                    self._gauge(deployment_id, BreakerState.OPEN)
        except Exception as exc:  # noqa: BLE001 - kv down at start: breakers start closed, logged
            log.warning("could not load shared breaker states: %s", exc)
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following other replicas and finish sharing what is under way."""
        await self._follower.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
