"""OpenAI stream chunks -> Anthropic Messages stream events, for `POST /v1/messages` streams."""

from __future__ import annotations

from typing import Any

import orjson

from agentdeck.errors import AgentdeckError, GuardrailBlockedError, http_status
from agentdeck.gateway.formats.anthropic_in import FINISH_REASONS
from agentdeck.gateway.models import JSON, CallRecord, StreamEvent


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

    def chunk(self, stream_event: StreamEvent) -> bytes | None:
        """The Anthropic events for one OpenAI chunk, concatenated (often none)."""
        chunk = stream_event.chunk
        if not self._started and isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]  # the upstream's model, as whole answers name it
        out = self._start()
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
        return b"".join(out) or None

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

    def finish(self, record: CallRecord) -> bytes:
        """message_delta (stop reason, final usage) and message_stop."""
        out = self._start() + self._close()
        usage = record.usage
        final = {
            "input_tokens": max(
                0, usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
            ),
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cached_input_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
        }
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
        return event(
            "error", {"error": {"type": error_type(http_status(error)), "message": error.message}}
        )


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """The Anthropic error type for an HTTP status."""
    return _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(error: AgentdeckError) -> bytes:
    """An error in the Anthropic shape: {"type": "error", "error": {"type", "message"}}."""
    body: dict[str, str] = {"type": error_type(http_status(error)), "message": error.message}
    if isinstance(error, GuardrailBlockedError):
        body["code"] = error.wire_code  # which guardrail finding, beyond the Anthropic type
    return orjson.dumps({"type": "error", "error": body})
