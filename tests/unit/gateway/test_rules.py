"""Conditional routing: an alias with rules picks the serving alias per request."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.config_file import ConfigFileError
from agentdeck.settings import load_settings

FAKE = [{"provider": "fake", "model": "fake"}]
MODELS = {
    "cheap": {"deployments": FAKE},
    "big": {"deployments": FAKE},
    "premium": {"deployments": FAKE},
    "tooly": {"deployments": FAKE},
    "vision": {"deployments": FAKE},
    "strong": {"deployments": FAKE},
    "auto": {
        "rules": [
            {"name": "long", "when": {"min_prompt_tokens": 60}, "route_to": "big"},
            {"name": "paid", "when": {"tag": "premium"}, "route_to": "premium"},
            {"name": "tools", "when": {"has_tools": True}, "route_to": "tooly"},
            {"name": "images", "when": {"has_images": True}, "route_to": "vision"},
            {"name": "hard", "when": {"pattern": r"(?i)\b(prove|derive)\b"}, "route_to": "strong"},
        ],
        "default": "cheap",
    },
}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize(
    ("body", "headers", "route"),
    [
        ({"messages": _user("hi")}, {}, "default>cheap"),
        ({"messages": _user("word " * 80)}, {}, "long>big"),
        ({"messages": _user("hi"), "metadata": {"tags": ["premium"]}}, {}, "paid>premium"),
        ({"messages": _user("hi")}, {"x-agentdeck-tags": "beta, premium"}, "paid>premium"),
        ({"messages": _user("hi"), "tools": [TOOL]}, {}, "tools>tooly"),
        ({"messages": _user([{"type": "text", "text": "what?"}, IMAGE])}, {}, "images>vision"),
        ({"messages": _user("Please PROVE it")}, {}, "hard>strong"),
        ({"messages": _user("improve it")}, {}, "default>cheap"),  # a word, not a substring
    ],
)
async def test_first_matching_rule_routes(
    gateway_client: Any, body: dict[str, Any], headers: dict[str, str], route: str
) -> None:
    client = await gateway_client(models=MODELS)
    response = await client.post(
        "/v1/chat/completions", json={"model": "auto", **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-agentdeck-route"] == route
    assert response.headers["x-agentdeck-deployment"] == f"{route.split('>')[1]}/0"


@pytest.mark.parametrize(
    ("auto", "fragment"),
    [
        ({"rules": []}, "needs deployments, or rules with a default alias"),
        ({"rules": [{"name": "x", "when": {}, "route_to": "nowhere"}], "default": "cheap"},
         "rules route to unknown alias 'nowhere'"),
        ({"rules": [{"name": "x", "when": {"pattern": "(unclosed"}, "route_to": "cheap"}],
          "default": "cheap"}, "not a regular expression"),
    ],
)  # fmt: skip
def test_bad_rules_are_config_errors(auto: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_settings(None, models={"cheap": {"deployments": FAKE}, "auto": auto})
    assert any(fragment in message for _, _, message in caught.value.problems)
