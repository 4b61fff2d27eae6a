"""One call through retries, circuit breakers, one deadline and fallbacks.

Per alias: try its available deployments in the router's order, retrying transient failures
(429, 5xx, connection errors, timeouts) with jittered exponential backoff that never comes
sooner than the upstream's `Retry-After`; a failure that will not change on retry ends the
alias at once. Then the alias's fallbacks for that kind of failure, in order. All of it within
one deadline. A call is attempted until its first byte reaches the client: streams are
retried only before their first event.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agentdeck.errors import AgentdeckError, DeadlineExceededError, UpstreamError
from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.catalog import Deployment, ModelAlias, ModelCatalog
from agentdeck.gateway.failures import (
    Failure,
    classify,
    counts_against_breaker,
    fallback_list,
    retriable,
    retry_after_s,
)
from agentdeck.gateway.models import CallRecord
from agentdeck.gateway.router import Router
from agentdeck.settings import GatewaySettings
from agentdeck.tracing.metrics import Metrics

T = TypeVar("T")
Attempt = Callable[[Deployment], Awaitable[T]]


class Dispatcher:
    """Runs attempts of one call across deployments and fallback aliases."""

    def __init__(
        self,
        catalog: ModelCatalog,
        router: Router,
        breakers: BreakerBoard,
        metrics: Metrics,
        settings: GatewaySettings,
        is_off: Callable[[str], bool] = lambda _name: False,
        rng: random.Random | None = None,
    ) -> None:
        self._catalog = catalog
        self._router = router
        self._breakers = breakers
        self._metrics = metrics
        self._settings = settings
        self._is_off = is_off
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security

    async def run(self, record: CallRecord, attempt: Attempt[T], *, held: bool = False) -> T:
        """The first successful attempt's result, or the last failure.

        With `held`, a successful attempt stays counted as in flight (a stream being relayed);
        the caller reports its end to the router.
        """
        first = self._catalog.resolve(record.alias)
        deadline_s = first.spec.deadline_s or self._settings.deadline_s
        deadline = time.monotonic() + deadline_s
        queue, tried = [first.name], set[str]()
        last: AgentdeckError | None = None
        kind = Failure.UPSTREAM_DOWN
        while queue:
            name = queue.pop(0)
            if name in tried:
                continue
            tried.add(name)
            alias = self._catalog.resolve(name)
            if record.path:
                self._metrics.fallbacks.labels(record.path[-1], name, kind.value).inc()
            record.path.append(name)
            if alias.spec.disabled or self._is_off(name):
                last = UpstreamError(f"model {name!r} is switched off", code="model_switched_off")
            else:
                try:
                    return await self._alias(alias, record, attempt, deadline, deadline_s, held)
                except DeadlineExceededError:
                    raise
                except AgentdeckError as error:
                    last = error
            kind = classify(last)
            if kind in (Failure.CLIENT_ERROR, Failure.NOT_OURS):
                raise last
            queue.extend(
                getattr(alias.spec.fallbacks, fallback_list(kind)) + alias.spec.fallbacks.any
            )
        assert last is not None
        raise last

    async def _alias(
        self,
        alias: ModelAlias,
        record: CallRecord,
        attempt: Attempt[T],
        deadline: float,
        deadline_s: float,
        held: bool,
    ) -> T:
        candidates = self._router.candidates(alias)
        if not candidates:
            raise _none_available(alias)
        retries = alias.spec.retries
        error: AgentdeckError | None = None
        for n in range(retries.attempts):
            if error is not None:
                kind = classify(error)
                if retriable(kind):  # a refused one goes straight to the next deployment
                    pause = self._backoff(n, retries.backoff_ms, retries.max_backoff_ms, error)
                    if time.monotonic() + pause >= deadline:
                        break  # waiting would outlive the deadline: let a fallback try instead
                    await asyncio.sleep(pause)
                self._metrics.retries.labels(alias.name, kind.value).inc()
            # Taken only now, just before the call: a half-open breaker admits one probe.
            deployment = self._admitted(candidates, n)
            if deployment is None:
                break  # every candidate's breaker refused (half-open, probe under way)
            try:
                return await self._once(deployment, record, attempt, deadline, deadline_s, held)
            except DeadlineExceededError:
                raise
            except AgentdeckError as failure:
                error = failure
                candidates = _still_worth_trying(candidates, deployment, failure)
                if not candidates:
                    break
        if error is None:
            raise _none_available(alias)
        raise error

    def _admitted(self, candidates: list[Deployment], n: int) -> Deployment | None:
        """The n-th candidate in turn whose breaker admits a call now (taking a probe)."""
        for offset in range(len(candidates)):
            deployment = candidates[(n + offset) % len(candidates)]
            if self._breakers.allow(deployment.id):
                return deployment
        return None

    async def _once(
        self,
        deployment: Deployment,
        record: CallRecord,
        attempt: Attempt[T],
        deadline: float,
        deadline_s: float,
        held: bool,
    ) -> T:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError(f"the request deadline of {deadline_s:g}s passed")
        record.attempts += 1
        record.deployment_id = deployment.id
        self._router.started(deployment)
        started = time.monotonic()
        try:
            if not held and deployment.times_whole_calls and remaining > deployment.timeout_after:
                # The provider's own total timeout ends the call before the deadline: a timer
                # here would never fire (and costs a few microseconds on every call).
                result = await attempt(deployment)
            else:
                async with asyncio.timeout(remaining):
                    result = await attempt(deployment)
        except TimeoutError:
            self._failed(deployment, DeadlineExceededError(""))
            raise DeadlineExceededError(
                f"the request deadline of {deadline_s:g}s passed while waiting for "
                f"upstream {deployment.id}"
            ) from None
        except AgentdeckError as error:
            self._failed(deployment, error)
            raise
        except BaseException:
            self._router.finished(deployment, None)  # cancelled: the client went away
            self._breakers.release(deployment.id)
            raise
        elapsed = time.monotonic() - started
        if not held:
            self._router.finished(deployment, elapsed)
        self._breakers.record(deployment.id, True)
        return result

    def _failed(self, deployment: Deployment, error: AgentdeckError) -> None:
        self._router.finished(deployment, None)
        if counts_against_breaker(classify(error)):
            self._breakers.record(deployment.id, False)
        else:
            self._breakers.release(deployment.id)

    def _backoff(self, n: int, base_ms: int, max_ms: int, error: AgentdeckError) -> float:
        """Jittered exponential backoff, never shorter than the upstream's Retry-After."""
        exponential = min(max_ms, base_ms * 2 ** (n - 1)) / 1000.0
        pause = exponential * (0.5 + self._rng.random() / 2)
        told = retry_after_s(error)
        return float(max(pause, told)) if told is not None else float(pause)


def _still_worth_trying(
    candidates: list[Deployment], failed: Deployment, error: AgentdeckError
) -> list[Deployment]:
    """The deployments a next attempt may go to after `failed` failed with `error`."""
    kind = classify(error)
    if kind is Failure.UPSTREAM_REFUSED:
        # Our credential or account there: never again, but another deployment may serve.
        return [c for c in candidates if c is not failed]
    return candidates if retriable(kind) else []


def _none_available(alias: ModelAlias) -> UpstreamError:
    return UpstreamError(
        f"no deployment of {alias.name!r} is available (circuit breakers open)",
        code="no_deployment_available",
    )
