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


_TRAILING_RUN = re.compile(r"[^\W_]+\Z", re.UNICODE)


class StreamingTokenCounter:
    """`count_text` over text that arrives in pieces, in constant memory.

    A run of letters and digits is cut into pieces of four from its start, so a run split
    across two chunks must not be counted as two runs. The counter keeps back the trailing
    run's last (at most three) characters, and the total equals `count_text` of the whole.
    """

    def __init__(self) -> None:
        self._tokens = 0
        self._carry = ""

    def add(self, text: str) -> None:
        """Count another piece of the text."""
        if not text:
            return
        text = self._carry + text
        run = _TRAILING_RUN.search(text)
        if run is None:
            self._tokens += count_text(text)
            self._carry = ""
            return
        whole = len(run.group()) - len(run.group()) % 4
        self._tokens += count_text(text[: run.start()]) + whole // 4
        self._carry = run.group()[whole:]

    @property
    def total(self) -> int:
        """Tokens in everything added so far."""
        return self._tokens + (1 if self._carry else 0)
