"""Pieces every outbound translator needs: turns that alternate, and tool-call arguments."""

from __future__ import annotations

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
