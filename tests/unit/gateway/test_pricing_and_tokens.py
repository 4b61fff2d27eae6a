"""Cost arithmetic in integer micro-dollars, and the deterministic token estimate."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from agentdeck.gateway.models import Usage
from agentdeck.gateway.pricing import cost_micros
from agentdeck.gateway.tokens import (
    StreamingTokenCounter,
    content_text,
    count_messages,
    count_text,
)
from agentdeck.settings import DeploymentSettings


def _deployment(input_price: str, output_price: str) -> DeploymentSettings:
    return DeploymentSettings(
        id="d", model="m", input_price=Decimal(input_price), output_price=Decimal(output_price)
    )


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "price_in", "price_out", "expected"),
    [
        (1_000_000, 0, "2.50", "10", 2_500_000),  # a million input tokens at $2.50
        (0, 1_000_000, "2.50", "10", 10_000_000),
        (1000, 500, "2.50", "10", 7_500),  # 2500 + 5000 micro-dollars
        (10, 0, "0.15", "0.60", 2),  # 1.5 micro-dollars rounds up to 2
        (1, 1, "0.000001", "0.000001", 1),  # smallest price: a fraction rounds up to 1
        (0, 0, "5", "15", 0),
        (123_457, 98_765, "3", "15", 1_851_846),  # 370_371 + 1_481_475
    ],
)
def test_cost_is_exact_and_rounded_up(
    tokens_in: int, tokens_out: int, price_in: str, price_out: str, expected: int
) -> None:
    exact = Decimal(tokens_in) * Decimal(price_in) + Decimal(tokens_out) * Decimal(price_out)
    ceiling = math.ceil(exact)  # USD per 1M tokens times tokens is micro-dollars
    assert ceiling == expected
    deployment = _deployment(price_in, price_out)
    assert cost_micros(Usage(tokens_in, tokens_out), deployment) == ceiling


def test_large_volumes_stay_exact() -> None:
    deployment = _deployment("1.234567", "7.654321")
    usage = Usage(987_654_321, 123_456_789)
    expected = Decimal(987_654_321) * Decimal("1.234567") + Decimal(123_456_789) * Decimal(
        "7.654321"
    )
    assert cost_micros(usage, deployment) == math.ceil(expected)


def test_token_estimates_are_deterministic() -> None:
    assert count_text("") == 0
    assert count_text("hello") == 2  # "hell" + "o"
    assert count_text("hi there, friend!") == 7  # hi / ther e / , / frie nd / !
    assert count_text("hi there, friend!") == count_text("hi there, friend!")
    assert content_text([{"type": "text", "text": "a"}, {"type": "image_url"}, "x"]) == "a"
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
        },
    ]
    # 3 framing tokens per message + "be" "brie" "f" + "f" + "{" "}"
    assert count_messages(messages) == 3 + 3 + 3 + 1 + 2


@pytest.mark.parametrize(
    "pieces",
    [
        ["hel", "lo wor", "ld"],
        ["abcdefghij", "klm", "n", "", "op qr"],
        ['{"ci', 'ty": "Os', 'lo"}'],
        ["snake_", "case", "_name", "  x"],
        ["日本", "語の", "テキスト", "!"],
        list("a long sentence, split into single characters."),
    ],
)
def test_streaming_counter_equals_counting_the_whole(pieces: list[str]) -> None:
    counter = StreamingTokenCounter()
    for piece in pieces:
        counter.add(piece)
    assert counter.total == count_text("".join(pieces))


@pytest.mark.parametrize("price", [2.01, 0.57, 1.1, 4.35])
def test_prices_read_as_floats_from_yaml_become_exact_micros(price: float) -> None:
    deployment = DeploymentSettings(id="d", model="m", input_price=price, output_price=price)
    expected = int(Decimal(str(price)) * 1_000_000)
    assert deployment.input_micros_per_mtok == expected
    assert deployment.output_micros_per_mtok == expected
    assert cost_micros(Usage(input_tokens=1_000_000), deployment) == expected
