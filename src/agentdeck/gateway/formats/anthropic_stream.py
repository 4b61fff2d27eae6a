"""OpenAI stream chunks -> Anthropic Messages stream events, for `POST /v1/messages` streams."""

from __future__ import annotations

from typing import Any

import orjson

from agentdeck.errors import AgentdeckError
from agentdeck.gateway.formats.anthropic_in import FINISH_REASONS, usage_to_anthropic
from agentdeck.gateway.models import JSON


def event(kind: str, payload: JSON) -> bytes:
    """One Anthropic server-sent event."""
    return (
        b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"
    )


class AnthropicStreamEncoder:
    """Re-frames OpenAI chunks as Anthropic events: message_start, one content block per text
    run or tool call (start / deltas / stop), message_delta with the stop reason and usage,
    message_stop."""

    def __init__(self, model: str, message_id: str, estimated_input_tokens: int) -> None:
        self._model = model
        self._id = message_id
        self._input_estimate = estimated_input_tokens
        self._started = False
        self._block: tuple[str, int] | None = None  # ("text", -1) or ("tool", openai index)
        self._index = -1
        self._stop_reason = "end_turn"
        self._usage: JSON | None = None

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [
            event(
                "message_start",
                {
                    "message": {
                        "id": self._id,
                        "type": "message",
                        "role": "assistant",
                        "model": self._model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": self._input_estimate, "output_tokens": 0},
                    }
                },
            )
        ]

    def _open(self, kind: str, key: int, block: JSON) -> list[bytes]:
        out = self._close()
        self._index += 1
        self._block = (kind, key)
        out.append(event("content_block_start", {"index": self._index, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self._block is None:
            return []
        self._block = None
        return [event("content_block_stop", {"index": self._index})]

    def chunk(self, chunk: JSON) -> bytes:
        """The Anthropic events for one OpenAI chunk, concatenated (often empty)."""
        out = self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._block is None or self._block[0] != "text":
                    out += self._open("text", -1, {"type": "text", "text": ""})
                out.append(
                    event(
                        "content_block_delta",
                        {"index": self._index, "delta": {"type": "text_delta", "text": text}},
                    )
                )
            for call in delta.get("tool_calls") or ():
                out += self._tool_delta(call)
            if choice.get("finish_reason"):
                self._stop_reason = FINISH_REASONS.get(choice["finish_reason"], "end_turn")
        return b"".join(out)

    def _tool_delta(self, call: Any) -> list[bytes]:
        out: list[bytes] = []
        key = int(call.get("index", 0))
        function = call.get("function") or {}
        if self._block != ("tool", key):
            out += self._open(
                "tool",
                key,
                {
                    "type": "tool_use",
                    "id": call.get("id", ""),
                    "name": function.get("name", ""),
                    "input": {},
                },
            )
        arguments = function.get("arguments")
        if arguments:
            out.append(
                event(
                    "content_block_delta",
                    {
                        "index": self._index,
                        "delta": {"type": "input_json_delta", "partial_json": arguments},
                    },
                )
            )
        return out

    def finish(self, usage: JSON | None) -> bytes:
        """message_delta (stop reason, final usage) and message_stop."""
        out = self._start() + self._close()
        final = usage_to_anthropic(usage or self._usage or {})
        out.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                    "usage": final,
                },
            )
        )
        out.append(event("message_stop", {}))
        return b"".join(out)

    def error(self, error: AgentdeckError) -> bytes:
        """An Anthropic `error` event for a failure mid-stream."""
        return event("error", {"error": {"type": "api_error", "message": error.message}})
