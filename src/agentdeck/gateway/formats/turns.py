"""What the outbound translators share: splitting messages into alternating turns, tool-call
arguments and tool results, and the OpenAI chunk they build streams from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from agentdeck.gateway.models import JSON


def append_turn(turns: list[JSON], role: str, blocks: list[JSON], key: str = "content") -> None:
    """Add blocks as a turn; a turn of the same role as the last one merges into it, since
    Anthropic, Gemini and Bedrock want user and assistant turns to alternate."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments as an object. A model's malformed JSON is kept, not dropped, under
    `_raw_arguments`, since these formats need an object."""
    if isinstance(raw, dict):
        return raw
    try:
        return orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw_arguments": raw}


def split_turns(
    messages: list[JSON],
    *,
    blocks: Callable[[Any], list[JSON]],
    assistant: Callable[[JSON], list[JSON]],
    tool_result: Callable[[JSON], JSON],
    assistant_role: str = "assistant",
    key: str = "content",
) -> tuple[list[JSON], list[JSON]]:
    """OpenAI messages as (system blocks, alternating turns) in a target format, built by the
    format's own `blocks` (content), `assistant` (content and tool calls) and `tool_result`."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(blocks(message.get("content")))
        elif role == "user":
            append_turn(turns, "user", blocks(message.get("content")), key)
        elif role == "assistant":
            append_turn(turns, assistant_role, assistant(message), key)
        elif role in ("tool", "function"):
            append_turn(turns, "user", [tool_result(message)], key)
    return system, turns


def tool_text(content: Any) -> str:
    """A tool message's content as text."""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if isinstance(p, dict))


def openai_chunk(
    chunk_id: str, created: int, model: str, delta: JSON, finish: str | None = None
) -> JSON:
    """A `chat.completion.chunk` with one choice."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
