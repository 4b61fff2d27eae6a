"""The fake model's answers in the Anthropic Messages and Gemini wire formats.

Written out by hand from each provider's documented shapes, not derived from agentdeck's own
translators, so that tests of the translators against the fake upstream are not circular.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from agentdeck.gateway.fake_engine import FakePlan, split_text
from agentdeck.gateway.models import JSON

_ids = itertools.count(1)


def anthropic_messages_as_openai(body: JSON) -> list[JSON]:
    """Anthropic request messages as plain role/content pairs, for the fake's echo and counts."""
    messages: list[JSON] = []
    system = body.get("system")
    if system:
        text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
        messages.append({"role": "system", "content": text})
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content if b.get("type") == "text")
        messages.append({"role": message.get("role"), "content": content})
    return messages


def gemini_contents_as_openai(body: JSON) -> list[JSON]:
    """Gemini `contents` as plain role/content pairs, for the fake's echo and counts."""
    messages: list[JSON] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        messages.append({"role": "system", "content": _gemini_text(system)})
    for content in body.get("contents") or ():
        role = "assistant" if content.get("role") == "model" else "user"
        messages.append({"role": role, "content": _gemini_text(content)})
    return messages


def _gemini_text(content: JSON) -> str:
    return "".join(p.get("text", "") for p in content.get("parts") or () if isinstance(p, dict))


def _anthropic_usage(plan: FakePlan) -> JSON:
    return {
        "input_tokens": plan.prompt_tokens,
        "output_tokens": plan.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _tool_input(call: JSON) -> Any:
    return orjson.loads(call["function"]["arguments"])


def anthropic_message(model: str, plan: FakePlan) -> JSON:
    """A complete Anthropic `message` object."""
    content: list[JSON] = []
    if plan.text:
        content.append({"type": "text", "text": plan.text})
    content.extend(
        {
            "type": "tool_use",
            "id": f"toolu_{call['id']}",
            "name": call["function"]["name"],
            "input": _tool_input(call),
        }
        for call in plan.tool_calls
    )
    return {
        "id": f"msg_fake_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if plan.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(plan),
    }


def anthropic_events(model: str, plan: FakePlan) -> list[tuple[str, JSON]]:
    """The (event name, data) pairs of an Anthropic stream for this plan."""
    start_usage = {**_anthropic_usage(plan), "output_tokens": 1}
    events: list[tuple[str, JSON]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_fake_{next(_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        )
    ]
    index = 0
    if plan.text:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        events.append(("ping", {"type": "ping"}))
        events.extend(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
            for piece in split_text(plan.text, plan.spec.chunks)
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    for offset, call in enumerate(plan.tool_calls):
        block = index + offset
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": block,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_{call['id']}",
                        "name": call["function"]["name"],
                        "input": {},
                    },
                },
            )
        )
        events.extend(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
            for piece in split_text(call["function"]["arguments"], plan.spec.chunks or 2)
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": block}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if plan.tool_calls else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": plan.completion_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _gemini_parts(plan: FakePlan) -> list[JSON]:
    parts: list[JSON] = []
    if plan.text:
        parts.append({"text": plan.text})
    parts.extend(
        {
            "functionCall": {
                "name": call["function"]["name"],
                "args": _tool_input(call),
                "id": call["id"],
            }
        }
        for call in plan.tool_calls
    )
    return parts


def _gemini_usage(plan: FakePlan) -> JSON:
    return {
        "promptTokenCount": plan.prompt_tokens,
        "candidatesTokenCount": plan.completion_tokens,
        "totalTokenCount": plan.prompt_tokens + plan.completion_tokens,
    }


def gemini_response(model: str, plan: FakePlan) -> JSON:
    """A complete Gemini `GenerateContentResponse`."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": _gemini_parts(plan)},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _gemini_usage(plan),
        "modelVersion": model,
        "responseId": f"fake-{next(_ids)}",
    }


def gemini_chunks(model: str, plan: FakePlan) -> list[JSON]:
    """The `GenerateContentResponse` chunks of a Gemini stream (`alt=sse`)."""
    response_id = f"fake-{next(_ids)}"
    chunks: list[JSON] = [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}],
            "modelVersion": model,
            "responseId": response_id,
        }
        for piece in split_text(plan.text, plan.spec.chunks)
    ]
    calls = [p for p in _gemini_parts(plan) if "functionCall" in p]
    if calls:
        chunks.append(
            {
                "candidates": [{"content": {"role": "model", "parts": calls}, "index": 0}],
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    chunks.append(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": ""}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": _gemini_usage(plan),
            "modelVersion": model,
            "responseId": response_id,
        }
    )
    return chunks
