"""Token estimates for when a provider reports none (a stream without usage, the fake model).

No tokenizer files can be assumed on the machine, so this counts word pieces: runs of letters
or digits of up to four characters, and each other non-space character. For English prose it
lands within about 15% of cl100k; it is deterministic, which is what billing needs.
"""

from __future__ import annotations

import re
from typing import Any

_PIECE = re.compile(r"[^\W_]{1,4}|[^\w\s]|_", re.UNICODE)
# OpenAI counts a few tokens of framing per message; the same constant keeps estimates close.
_PER_MESSAGE = 3


def count_text(text: str) -> int:
    """Estimated tokens in `text`."""
    return len(_PIECE.findall(text)) if text else 0


def content_text(content: Any) -> str:
    """The text of a message's `content`: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def count_messages(messages: list[Any]) -> int:
    """Estimated prompt tokens for a list of chat messages, tool calls included."""
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += _PER_MESSAGE + count_text(content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += count_text(str(function.get("name", "")))
                total += count_text(str(function.get("arguments", "")))
    return total
