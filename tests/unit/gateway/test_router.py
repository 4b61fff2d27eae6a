"""The order in which the router offers an alias's deployments, strategy by strategy."""

from __future__ import annotations

import random
import time
from collections import Counter

import orjson
import pytest

from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.catalog import Deployment, ModelAlias
from agentdeck.gateway.providers import ProviderContext
from agentdeck.gateway.providers.fake import FakeProvider
from agentdeck.gateway.router import Router
from agentdeck.kv import MemoryKV
from agentdeck.settings import BreakerSettings, DeploymentSettings, ModelAliasSettings
from agentdeck.tracing.metrics import Metrics

STRATEGIES = ["priority", "weighted", "latency", "cost", "least_busy"]


def _deployment(id_: str, weight: int = 1, prices: tuple[str, str] = ("0", "0")) -> Deployment:
    settings = DeploymentSettings(
        id=id_,
        provider="fake",
        model="fake",
        weight=weight,
        input_price=prices[0],
        output_price=prices[1],
    )
    return Deployment(settings, FakeProvider(settings, ProviderContext()))


def _alias(strategy: str, *deployments: Deployment) -> ModelAlias:
    spec = ModelAliasSettings(deployments=[d.settings for d in deployments], strategy=strategy)
    return ModelAlias("a", deployments, spec, "test")


def _four(strategy: str) -> ModelAlias:
    return _alias(strategy, *(_deployment(f"d{i}") for i in range(4)))


def _board() -> BreakerBoard:
    return BreakerBoard(BreakerSettings(), MemoryKV(), Metrics())


def _ids(deployments: list[Deployment]) -> list[str]:
    return [d.id for d in deployments]


def _open(board: BreakerBoard, deployment_id: str, for_s: float = 60.0) -> None:
    """Open a breaker the way a replica's message does."""
    change = {"deployment": deployment_id, "state": 2, "until": time.time() + for_s}
    board.apply(orjson.dumps(change))


def test_priority_keeps_the_configured_order() -> None:
    router, alias = Router(_board()), _four("priority")
    assert all(_ids(router.candidates(alias)) == ["d0", "d1", "d2", "d3"] for _ in range(20))


def test_weighted_order_is_reproducible_from_the_seed() -> None:
    alias = _alias("weighted", _deployment("light", 1), _deployment("heavy", 3))

    def orders(seed: int) -> list[tuple[str, ...]]:
        router = Router(_board(), rng=random.Random(seed))
        return [tuple(_ids(router.candidates(alias))) for _ in range(200)]

    assert orders(7) == orders(7)
    assert orders(7) != orders(8)
    assert set(orders(7)) == {("light", "heavy"), ("heavy", "light")}  # each a full order


def test_weighted_first_picks_follow_the_weights() -> None:
    alias = _alias("weighted", _deployment("light", 1), _deployment("heavy", 3))
    router = Router(_board(), rng=random.Random(2024))
    firsts = Counter(router.candidates(alias)[0].id for _ in range(4000))
    assert 0.72 <= firsts["heavy"] / 4000 <= 0.78  # 3 of 4 expected


def test_weight_zero_comes_last_and_only_as_a_spare() -> None:
    alias = _alias("weighted", _deployment("spare", 0), _deployment("a", 1), _deployment("b", 2))
    router = Router(_board(), rng=random.Random(1))
    orders = [_ids(router.candidates(alias)) for _ in range(300)]
    assert all(order[-1] == "spare" and sorted(order[:2]) == ["a", "b"] for order in orders)
    both_spare = _alias("weighted", _deployment("x", 0), _deployment("y", 0))
    assert _ids(router.candidates(both_spare)) == ["x", "y"]


def test_cost_orders_by_input_plus_output_price() -> None:
    alias = _alias(
        "cost",
        _deployment("premium", prices=("3", "15")),
        _deployment("mid", prices=("1", "4")),
        _deployment("cheap", prices=("0.1", "0.4")),
        _deployment("cheap-in", prices=("0.01", "8")),  # cheapest input, dear output
    )
    assert _ids(Router(_board()).candidates(alias)) == ["cheap", "mid", "cheap-in", "premium"]


def test_least_busy_orders_by_calls_in_flight() -> None:
    router, alias = Router(_board()), _four("least_busy")
    d0, d1, _, d3 = alias.deployments
    for deployment in (d0, d0, d1, d3, d3, d3):
        router.started(deployment)
    assert _ids(router.candidates(alias)) == ["d2", "d1", "d0", "d3"]
    router.finished(d3, 0.1)
    router.finished(d3, None)
    assert [router.load(d).in_flight for d in ("d0", "d1", "d2", "d3")] == [2, 1, 0, 1]
    assert _ids(router.candidates(alias)) == ["d2", "d1", "d3", "d0"]  # ties keep config order


def test_latency_tries_unmeasured_first_then_the_fastest_moving_average() -> None:
    router, alias = Router(_board()), _alias("latency", *(_deployment(f"d{i}") for i in range(3)))
    d0, d1, _ = alias.deployments
    router.finished(d0, 0.10)
    router.finished(d1, 0.05)
    assert _ids(router.candidates(alias)) == ["d2", "d1", "d0"]  # d2 never measured
    router.finished(d0, 1.0)  # moving average: 0.10 + 0.2 * (1.0 - 0.10)
    assert router.load("d0").latency_s == pytest.approx(0.28)
    router.finished(d1, 0.05, first_token_s=0.5)  # time to first token counts too
    assert _ids(router.candidates(alias))[1:] == ["d0", "d1"]
    router.finished(d1, None)  # a failure does not count as a latency
    assert router.load("d1").latency_s == pytest.approx(0.05)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deployments_with_an_open_breaker_are_left_out(strategy: str) -> None:
    board = _board()
    _open(board, "d1")
    _open(board, "d3")
    candidates = _ids(Router(board, rng=random.Random(3)).candidates(_four(strategy)))
    assert sorted(candidates) == ["d0", "d2"]
    if strategy != "weighted":
        assert candidates == ["d0", "d2"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_switched_off_deployments_are_left_out(strategy: str) -> None:
    router = Router(_board(), is_off=lambda deployment_id: deployment_id in ("d0", "d2"))
    assert sorted(_ids(router.candidates(_four(strategy)))) == ["d1", "d3"]


def test_nothing_is_offered_when_every_breaker_is_open() -> None:
    board = _board()
    for i in range(4):
        _open(board, f"d{i}")
    assert Router(board).candidates(_four("priority")) == []


def test_a_half_open_deployment_that_was_not_tried_keeps_its_probe() -> None:
    board = _board()
    _open(board, "d1", for_s=-1.0)  # open_s has passed: the next call may probe it
    router, alias = Router(board), _alias("priority", _deployment("d0"), _deployment("d1"))
    assert _ids(router.candidates(alias)) == ["d0", "d1"]
    # d0 served that call; d1 was never called, so its probe is still to be made.
    assert _ids(router.candidates(alias)) == ["d0", "d1"]
