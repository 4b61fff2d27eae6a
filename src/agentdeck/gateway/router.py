"""Choosing, in order, the deployments that may serve a call.

Strategies: `priority` (configured order), `weighted` (random, by weight), `latency` (lowest
moving average of recent latency and time to first token), `cost` (cheapest prices), and
`least_busy` (fewest calls in flight). Deployments whose breaker is open, or that are
switched off, are left out; the rest follow in order, for retries on another deployment.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.catalog import Deployment, ModelAlias

_EWMA_WEIGHT = 0.2  # weight of the newest observation in the moving averages


@dataclass(slots=True)
class DeploymentLoad:
    """What this process has seen of one deployment lately."""

    in_flight: int = 0
    latency_s: float | None = None
    first_token_s: float | None = None


def _ewma(old: float | None, new: float) -> float:
    return new if old is None else old + _EWMA_WEIGHT * (new - old)


class Router:
    """Orders an alias's deployments by its strategy, skipping unavailable ones."""

    def __init__(
        self,
        breakers: BreakerBoard,
        is_off: Callable[[str], bool] = lambda _id: False,
        rng: random.Random | None = None,
    ) -> None:
        self._breakers = breakers
        self._is_off = is_off
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self.loads: dict[str, DeploymentLoad] = {}

    def load(self, deployment_id: str) -> DeploymentLoad:
        """The load record of a deployment."""
        found = self.loads.get(deployment_id)
        if found is None:
            found = self.loads[deployment_id] = DeploymentLoad()
        return found

    def candidates(self, alias: ModelAlias) -> list[Deployment]:
        """The deployments to try for `alias`, best first; empty when none is available."""
        usable = [d for d in alias.deployments if not self._is_off(d.id)]
        ordered = self._order(alias.strategy, usable)
        canary = alias.canary
        if (
            canary is not None
            and alias.spec.canary is not None
            and not self._is_off(canary.id)
            and self._rng.random() * 100 < alias.spec.canary.percent
        ):
            ordered.insert(0, canary)  # the rest stay behind it for retries
        return [d for d in ordered if self._breakers.available(d.id)]

    def _order(self, strategy: str, deployments: list[Deployment]) -> list[Deployment]:
        if len(deployments) < 2 or strategy == "priority":
            return deployments
        if strategy == "weighted":
            return self._weighted(deployments)
        if strategy == "cost":
            return sorted(deployments, key=_price)
        if strategy == "least_busy":
            return sorted(deployments, key=lambda d: self.load(d.id).in_flight)
        return sorted(deployments, key=self._latency)

    def _weighted(self, deployments: list[Deployment]) -> list[Deployment]:
        """The first pick drawn by weight, the others behind it in their configured order
        (for retries); weight 0 only when nothing else is left. One random draw per call."""
        weights = [d.settings.weight for d in deployments]
        total = sum(weights)
        if total == 0:
            return deployments
        pick = deployments[-1]
        point = self._rng.random() * total
        for deployment, weight in zip(deployments, weights, strict=True):
            point -= weight
            if point < 0:
                pick = deployment
                break
        rest = [d for d in deployments if d is not pick]
        return [
            pick,
            *(d for d in rest if d.settings.weight),
            *(d for d in rest if not d.settings.weight),
        ]

    def _latency(self, deployment: Deployment) -> float:
        load = self.load(deployment.id)
        if load.latency_s is None:
            return -1.0  # never measured: try it, so that it gets measured
        return load.latency_s + (load.first_token_s or 0.0)

    def started(self, deployment: Deployment) -> None:
        """A call to `deployment` began."""
        self.load(deployment.id).in_flight += 1

    def finished(
        self, deployment: Deployment, latency_s: float | None, first_token_s: float | None = None
    ) -> None:
        """A call ended; its latency (None for a failure) feeds the moving averages."""
        load = self.load(deployment.id)
        load.in_flight = max(0, load.in_flight - 1)
        if latency_s is not None:
            load.latency_s = _ewma(load.latency_s, latency_s)
        if first_token_s is not None:
            load.first_token_s = _ewma(load.first_token_s, first_token_s)


def _price(deployment: Deployment) -> int:
    settings = deployment.settings
    return settings.input_micros_per_mtok + settings.output_micros_per_mtok
