"""Deployments without prices take them from the shipped table, or from gateway.prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.gateway.models import Usage
from agentdeck.gateway.price_table import SHIPPED, lookup
from agentdeck.gateway.pricing import cost_micros
from agentdeck.settings import Settings


def _deployment(settings: Settings, alias: str) -> Any:
    return ModelCatalog(settings).resolve(alias).deployments[0].settings


def test_lookup_exact_then_longest_prefix() -> None:
    assert lookup("gpt-4o", SHIPPED) == SHIPPED["gpt-4o"]
    assert lookup("gpt-4o-mini-2024-07-18", SHIPPED) == SHIPPED["gpt-4o-mini"]
    assert lookup("gpt-4o-2024-08-06", SHIPPED) == SHIPPED["gpt-4o"]
    assert lookup("claude-sonnet-4-5-20250929", SHIPPED) == SHIPPED["claude-sonnet-4-5"]
    assert lookup("gpt-4ox", SHIPPED) is None  # a prefix must end at a dash
    assert lookup("my-local-llama", SHIPPED) is None


def test_unpriced_deployment_takes_table_prices_and_config_wins() -> None:
    settings = Settings(
        models={
            "a": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5-2025"}]},
            "b": {"deployments": [{"model": "gpt-4o", "input_price": "1", "output_price": "2"}]},
            "c": {"deployments": [{"model": "house-model"}]},
            "d": {"deployments": [{"model": "gpt-4o-mini"}]},
        },
        gateway={"prices": {"house-model": {"input": "0.5", "output": "1.5"},
                            "gpt-4o-mini": {"input": "0.2", "output": "0.8"}}},
    )  # fmt: skip
    a = _deployment(settings, "a")
    assert (a.input_price, a.output_price) == (Decimal("3"), Decimal("15"))
    assert (a.cached_input_price, a.cache_write_price) == (Decimal("0.3"), Decimal("3.75"))
    b = _deployment(settings, "b")
    assert (b.input_price, b.output_price) == (Decimal("1"), Decimal("2"))  # explicit wins
    c = _deployment(settings, "c")
    assert (c.input_price, c.output_price) == (Decimal("0.5"), Decimal("1.5"))
    d = _deployment(settings, "d")
    assert (d.input_price, d.output_price) == (Decimal("0.2"), Decimal("0.8"))  # config wins


def test_cache_reads_and_writes_are_priced_apart() -> None:
    settings = Settings(
        models={"a": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5"}]}}
    )
    deployment = _deployment(settings, "a")
    # 10,000 prompt tokens: 6,000 read from cache, 1,000 written, 3,000 fresh; 500 out
    usage = Usage(10_000, 500, cached_input_tokens=6_000, cache_write_tokens=1_000)
    expected = 3_000 * 3 + 6_000 * Decimal("0.3") + 1_000 * Decimal("3.75") + 500 * 15
    assert cost_micros(usage, deployment) == int(expected)  # 9000+1800+3750+7500 = 22050


def test_fake_models_stay_free() -> None:
    deployment = _deployment(Settings(), "fake")
    assert cost_micros(Usage(1000, 1000), deployment) == 0
