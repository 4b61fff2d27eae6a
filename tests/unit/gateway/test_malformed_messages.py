"""Malformed Anthropic Messages requests: a 400 in the Anthropic shape naming the field."""

from __future__ import annotations

from typing import Any

import pytest

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"tool_choice": "auto"}, "'tool_choice' must be an object"),
        ({"tool_choice": {"type": "sometimes"}}, "must be auto, any, tool or none"),
        ({"metadata": [1]}, "'metadata' must be an object"),
        ({"stop_sequences": "END"}, "'stop_sequences' must be an array of strings"),
        ({"tools": {"a": 1}}, "'tools' must be an array"),
        ({"tools": [5]}, "'tools[0]' must be an object"),
        ({"tools": [{"name": "f", "input_schema": []}]}, "'tools[0].input_schema' must be"),
        ({"tools": [{"name": 3}]}, "'tools[0].function.name' must be a string"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": 3}]}]},
         "'messages[0].content[0].source' must be an object"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
         "'messages[0].content[0].tool_use_id' is required"),
        ({"messages": [{"role": "assistant", "content": [5]}]},
         "'messages[0].content[0]' must be an object"),
        ({"messages": [{"role": "system", "content": "x"}]}, "must be 'user' or 'assistant'"),
        ({"max_tokens": 0}, "'max_tokens' is required and must be a positive integer"),
    ],
)  # fmt: skip
async def test_bad_messages_request_is_a_named_400(
    gateway_client: Any, extra: dict[str, Any], fragment: str
) -> None:
    client = await gateway_client()
    body = {"model": "fake", "max_tokens": 10, "messages": USER, **extra}
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "invalid_request_error"
    assert fragment in answer["error"]["message"]


async def test_well_formed_options_still_pass(gateway_client: Any) -> None:
    client = await gateway_client()
    body = {
        "model": "fake", "max_tokens": 10, "messages": USER, "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"}, "tool_choice": {"type": "auto"},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    }  # fmt: skip
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 200
    assert response.json()["content"] == [{"type": "text", "text": "hi"}]
