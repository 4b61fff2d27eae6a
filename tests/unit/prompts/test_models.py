"""Names, labels, targets and prompt references: what is accepted, and the param a refusal
names."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.errors import InvalidRequestError
from agentdeck.prompts.models import (
    LabelTarget,
    PromptRef,
    Split,
    check_label,
    check_name,
    content_hash,
    parse_prompt_ref,
)
from tests.unit.prompts.conftest import text


@pytest.mark.parametrize("name", ["a", "support/triage", "A-1.b_c/d", "x" * 200])
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-a",
        "/a",
        "a/",
        "a//b",
        "a/./b",
        "a/../b",
        "a/versions",
        "render/a",
        "a b",
        "é",
        "x" * 201,
    ],
)
def test_bad_names_are_400_naming_name(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_name(name)
    assert caught.value.param == "name"


@pytest.mark.parametrize("label", ["", "Prod", "-x", "a/b", "x" * 65])
def test_bad_labels_are_400(label: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_label(label, "prompt.label")
    assert caught.value.param == "prompt.label"
    assert check_label("prod-2.x_y") == "prod-2.x_y"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"name": "p"}, PromptRef("p", "production", None)),
        ({"name": "p", "label": "staging"}, PromptRef("p", "staging", None)),
        ({"name": "p", "version": 3}, PromptRef("p", None, 3)),
        ({"name": "a/b", "label": None}, PromptRef("a/b", "production", None)),
    ],
)
def test_prompt_references(value: Any, expected: PromptRef) -> None:
    assert parse_prompt_ref(value) == expected


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("p", "prompt"),
        (["p"], "prompt"),
        ({}, "prompt.name"),
        ({"name": 3}, "prompt.name"),
        ({"name": "a//b"}, "prompt.name"),
        ({"name": "p", "label": "Prod"}, "prompt.label"),
        ({"name": "p", "label": 1}, "prompt.label"),
        ({"name": "p", "version": 0}, "prompt.version"),
        ({"name": "p", "version": True}, "prompt.version"),
        ({"name": "p", "version": "3"}, "prompt.version"),
        ({"name": "p", "version": 1, "label": "x"}, "prompt"),
        ({"name": "p", "variables": {}}, "prompt.variables"),
    ],
)
def test_malformed_references_name_the_bad_part(value: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_prompt_ref(value)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("target", "param"),
    [
        (LabelTarget(), "version"),
        (LabelTarget(1, (Split(1, 1),)), "version"),
        (LabelTarget(splits=()), "splits"),
        (LabelTarget(splits=(Split(1, 0),)), "splits.0.weight"),
        (LabelTarget(splits=(Split(1, 1), Split(0, 1))), "splits.1.version"),
        (LabelTarget(splits=(Split(2, 1), Split(2, 5))), "splits"),
        (LabelTarget(splits=tuple(Split(i, 1) for i in range(1, 22))), "splits"),
    ],
)
def test_malformed_targets_name_the_field(target: LabelTarget, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        target.check()
    assert caught.value.param == param


def test_targets_round_trip_through_json() -> None:
    split = LabelTarget(splits=(Split(1, 1), Split(3, 9)))
    assert split.to_json() == {"splits": [{"version": 1, "weight": 1}, {"version": 3, "weight": 9}]}
    assert LabelTarget.from_json(split.to_json()) == split
    assert LabelTarget.from_json({"version": 4}) == LabelTarget(4)
    assert split.versions() == [1, 3]


def test_the_content_hash_ignores_key_order_but_not_values() -> None:
    a = text("x", params={"a": 1, "b": 2}).canonical()
    b = text("x", params={"b": 2, "a": 1}).canonical()
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 64
    assert content_hash(a) != content_hash(text("x", params={"a": 1, "b": 3}).canonical())
