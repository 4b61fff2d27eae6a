"""Prompt references through the gateway: rendered on the server from the label's version,
the prompt's model and parameters as defaults, name and version on the span, missing and
unknown variables a 400 naming them, a moved label served on the next call, and a split
label sticky per end user."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.unit.api._deck import Deck
from tests.unit.api.conftest import DeckFactory

MODELS = {"echo": {"deployments": [{"provider": "fake", "model": "fake", "id": "echo/1"}]}}


def _content(template: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "chat",
        "messages": [
            {"role": "system", "content": "You summarise."},
            {"role": "user", "content": template},
        ],
        "variables": {
            "type": "object",
            "properties": {"topic": {"type": "string"}, "words": {"type": "integer"}},
            "required": ["topic"],
        },
        "params": {"temperature": 0.1, "max_tokens": 77},
        "model": "echo",
        **extra,
    }


@pytest.fixture
async def deck_with_prompt(open_deck: DeckFactory) -> Deck:
    deck: Deck = await open_deck(models=MODELS)
    for template in (
        "Summarise {{ topic }}.",
        "Summarise {{ topic }} in {{ words | default(10) }} words.",
    ):
        await deck.api("POST", "/prompts/support/summary/versions", json=_content(template),
                       expect=201)  # fmt: skip
    await deck.api("PUT", "/prompts/support/summary/labels/production", json={"version": 1})
    return deck


async def _call(deck: Deck, body: dict[str, Any], status: int = 200) -> Any:
    answer = await deck.client.post("/v1/chat/completions", json=body, headers=deck.owner)
    assert answer.status_code == status, answer.text
    return answer


def _said(answer: Any) -> str:
    text: str = answer.json()["choices"][0]["message"]["content"]
    return text


async def test_a_reference_is_rendered_with_the_prompts_model_and_defaults(
    deck_with_prompt: Deck,
) -> None:
    deck = deck_with_prompt
    body = {"prompt": {"name": "support/summary"}, "variables": {"topic": "trains"}}
    answer = await _call(deck, body)
    assert _said(answer) == "Summarise trains."
    trace = await deck.wait_for_trace(deck.owner, answer.headers["x-agentdeck-trace-id"])
    (span,) = trace["spans"]
    assert (span["prompt_name"], span["prompt_version"]) == ("support/summary", 1)
    assert span["attributes"]["agentdeck.prompt.version"] == 1
    assert span["request_model"] == "echo"


async def test_the_request_goes_on_after_the_prompt_and_overrides_parameters(
    deck_with_prompt: Deck,
) -> None:
    body = {
        "prompt": {"name": "support/summary", "version": 2},
        "variables": {"topic": "boats", "words": 5},
        "messages": [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}],
        "max_tokens": 5,
    }
    answer = await _call(deck_with_prompt, body)
    assert _said(answer) == "more"  # the echo model repeats the last user message
    body["messages"] = []
    assert _said(await _call(deck_with_prompt, body)) == "Summarise boats in 5 words."


@pytest.mark.parametrize(
    ("variables", "param", "words"),
    [
        ({}, "variables.topic", "missing variables: topic"),
        ({"topic": "x", "colour": "red"}, "variables.colour", "unknown variables: colour"),
        ({"topic": 3}, "variables.topic", "topic"),
    ],
)
async def test_bad_variables_are_a_400_naming_them(
    deck_with_prompt: Deck, variables: dict[str, Any], param: str, words: str
) -> None:
    body = {"prompt": {"name": "support/summary"}, "variables": variables}
    answer = await _call(deck_with_prompt, body, 400)
    error = answer.json()["error"]
    assert error["param"] == param
    assert words in error["message"]


async def test_unknown_prompts_and_labels_are_404_naming_them(deck_with_prompt: Deck) -> None:
    answer = await _call(deck_with_prompt, {"prompt": {"name": "nope"}}, 404)
    assert answer.json()["error"]["param"] == "prompt.name"
    ref = {"prompt": {"name": "support/summary", "label": "staging"}, "variables": {"topic": "x"}}
    answer = await _call(deck_with_prompt, ref, 404)
    assert "staging" in answer.json()["error"]["message"]
    answer = await _call(deck_with_prompt, {"model": "echo", "messages": [], "variables": {}}, 400)
    assert answer.json()["error"]["param"] == "variables"


async def test_a_moved_label_is_served_on_the_next_call(deck_with_prompt: Deck) -> None:
    deck = deck_with_prompt
    body = {"prompt": {"name": "support/summary"}, "variables": {"topic": "cats"}}
    assert _said(await _call(deck, body)) == "Summarise cats."
    await deck.api("PUT", "/prompts/support/summary/labels/production", json={"version": 2})
    assert _said(await _call(deck, body)) == "Summarise cats in 10 words."
    await deck.api("POST", "/prompts/support/summary/labels/production/rollback", json={})
    assert _said(await _call(deck, body)) == "Summarise cats."


async def test_a_split_label_is_sticky_per_user_and_weighted(deck_with_prompt: Deck) -> None:
    deck = deck_with_prompt
    split = {"splits": [{"version": 1, "weight": 70}, {"version": 2, "weight": 30}]}
    await deck.api("PUT", "/prompts/support/summary/labels/canary", json=split)
    served: Counter[str] = Counter()
    for user in range(200):
        body = {"prompt": {"name": "support/summary", "label": "canary"},
                "variables": {"topic": "x"}, "user": f"user-{user}"}  # fmt: skip
        first = _said(await _call(deck, body))
        if user < 20:  # the same user gets the same version every time
            for _ in range(3):
                assert _said(await _call(deck, body)) == first
        served[first] += 1
    assert sum(served.values()) == 200
    share = served["Summarise x."] / 200
    assert 0.55 <= share <= 0.85, served  # 70 % expected; binomial sd is 3.2 %


async def test_an_anthropic_request_can_name_a_prompt(deck_with_prompt: Deck) -> None:
    deck = deck_with_prompt
    body = {"prompt": {"name": "support/summary", "version": 2},
            "variables": {"topic": "rain", "words": 3}}  # fmt: skip
    answer = await deck.client.post("/v1/messages", json=body, headers=deck.owner)
    assert answer.status_code == 200, answer.text
    message = answer.json()
    assert message["content"][0]["text"] == "Summarise rain in 3 words."
    trace = await deck.wait_for_trace(deck.owner, answer.headers["x-agentdeck-trace-id"])
    (span,) = trace["spans"]
    assert (span["prompt_name"], span["prompt_version"]) == ("support/summary", 2)
    assert span["request_model"] == "echo"  # the prompt's model, as the request named none
