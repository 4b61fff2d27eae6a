"""The fake model's answers in the Anthropic Messages and Gemini wire formats.

Written out by hand from each provider's documented shapes, not derived from agentdeck's own
translators, so that tests of the translators against the fake upstream are not circular.
"""

from __future__ import annotations

import itertools
import zlib
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


def bedrock_messages_as_openai(body: JSON) -> list[JSON]:
    """Converse `system` and `messages` as plain role/content pairs, for echo and counts."""
    messages: list[JSON] = []
    system = " ".join(b.get("text", "") for b in body.get("system") or () if "text" in b)
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        text = " ".join(b.get("text", "") for b in message.get("content") or () if "text" in b)
        messages.append({"role": message.get("role"), "content": text})
    return messages


def _bedrock_usage(plan: FakePlan) -> JSON:
    return {"inputTokens": plan.prompt_tokens, "outputTokens": plan.completion_tokens,
            "totalTokens": plan.prompt_tokens + plan.completion_tokens}  # fmt: skip


def bedrock_response(plan: FakePlan) -> JSON:
    """A complete Converse answer."""
    content: list[JSON] = [{"text": plan.text}] if plan.text else []
    content.extend(
        {"toolUse": {"toolUseId": f"tooluse_{call['id']}", "name": call["function"]["name"],
                     "input": _tool_input(call)}}
        for call in plan.tool_calls
    )  # fmt: skip
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if plan.tool_calls else "end_turn",
        "usage": _bedrock_usage(plan),
        "metrics": {"latencyMs": plan.spec.latency_ms},
    }


def bedrock_events(plan: FakePlan) -> list[tuple[str, JSON]]:
    """The (event type, payload) pairs of a ConverseStream answer."""
    events: list[tuple[str, JSON]] = [("messageStart", {"role": "assistant"})]
    index = 0
    if plan.text:
        events.extend(
            ("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0})
            for piece in split_text(plan.text, plan.spec.chunks)
        )
        events.append(("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    for offset, call in enumerate(plan.tool_calls):
        block = index + offset
        events.append(("contentBlockStart", {"start": {"toolUse": {
            "toolUseId": f"tooluse_{call['id']}", "name": call["function"]["name"]}},
            "contentBlockIndex": block}))  # fmt: skip
        events.extend(
            ("contentBlockDelta", {"delta": {"toolUse": {"input": piece}},
                                   "contentBlockIndex": block})
            for piece in split_text(call["function"]["arguments"], plan.spec.chunks or 2)
        )  # fmt: skip
        events.append(("contentBlockStop", {"contentBlockIndex": block}))
    events.append(("messageStop", {"stopReason": "tool_use" if plan.tool_calls else "end_turn"}))
    events.append(("metadata", {"usage": _bedrock_usage(plan), "metrics": {"latencyMs": 0}}))
    return events


def event_stream_frame(event_type: str, payload: JSON) -> bytes:
    """One message in the AWS event-stream binary framing (application/vnd.amazon.eventstream):
    total length, headers length, prelude CRC32, string headers, payload, message CRC32."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):  # fmt: skip
        raw_name, raw_value = name.encode(), value.encode()
        headers += (bytes([len(raw_name)]) + raw_name + b"\x07"
                    + len(raw_value).to_bytes(2, "big") + raw_value)  # fmt: skip
    body = orjson.dumps(payload)
    total = 12 + len(headers) + len(body) + 4
    prelude = total.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + headers + body
    return message + zlib.crc32(message).to_bytes(4, "big")
