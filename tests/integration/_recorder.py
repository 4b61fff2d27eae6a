"""A minimal OpenAI-compatible upstream over real HTTP that records every request body.

The fake upstream ignores parameters it has no use for; this one lets a test see exactly what
the gateway sent on, and answers without `usage` so the gateway has to count tokens itself.
"""

from __future__ import annotations

import json
from typing import Any

from tests.integration._http_stub import BackgroundServer, JSONHandler

RECORDED_REPLY = "recorded answer"
# Asking for this upstream model gets a tool call instead of text.
TOOL_MODEL = "upstream-tools"
TOOL_NAME = "lookup_order"
TOOL_ARGUMENTS = '{"order_id":"A-1042","verbose":true}'


def _completion(model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": RECORDED_REPLY}
    if model == TOOL_MODEL:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_rec_0",
                    "type": "function",
                    "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
                }
            ],
        }
    finish = "tool_calls" if model == TOOL_MODEL else "stop"
    return {
        "id": "chatcmpl-recorded",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def _chunks(model: str) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-recorded",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
    }
    pieces: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if model == TOOL_MODEL:
        head = {"index": 0, "id": "call_rec_0", "type": "function"}
        half = len(TOOL_ARGUMENTS) // 2
        pieces += [
            {"tool_calls": [{**head, "function": {"name": TOOL_NAME, "arguments": ""}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": TOOL_ARGUMENTS[:half]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": TOOL_ARGUMENTS[half:]}}]},
        ]
    else:
        pieces += [{"content": "recorded "}, {"content": "answer"}]
    finish = "tool_calls" if model == TOOL_MODEL else "stop"
    out = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in pieces]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    return out


class RecordingUpstream(BackgroundServer):
    """Answers POST /v1/chat/completions (whole or streamed, never with usage); keeps bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        recorder = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.read_json()
                recorder.bodies.append(body)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for chunk in _chunks(body["model"]):
                        self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_json(200, _completion(body["model"]))

        super().__init__(Handler)

    @property
    def url(self) -> str:
        """Base URL (with /v1) to configure as a deployment's base_url."""
        return f"http://127.0.0.1:{self.port}/v1"
