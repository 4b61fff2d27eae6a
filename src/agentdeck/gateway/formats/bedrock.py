"""OpenAI format <-> Amazon Bedrock's Converse API, for calling a Bedrock upstream.

Requests become `converse` / `converse-stream` bodies (system prompts, image parts as bytes,
tools with JSON schemas, toolUse / toolResult blocks with their ids); answers and stream events
become OpenAI objects, with stop reasons and usage (cache reads and writes) kept.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.formats.anthropic_out import TOOL_ERROR_MARK
from agentdeck.gateway.formats.turns import openai_chunk, parse_arguments, split_turns, tool_text
from agentdeck.gateway.models import JSON

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}  # fmt: skip


def _image(part: JSON) -> JSON:
    image = part.get("image_url")
    url = str(image.get("url", "") if isinstance(image, dict) else image)
    if not url.startswith("data:"):
        raise InvalidRequestError(
            "bedrock takes images as data URLs (data:image/png;base64,...), not links",
            param="messages",
        )
    header, _, data = url.partition(",")
    media_type = header[5:].split(";")[0]
    return {"image": {"format": _IMAGE_FORMATS.get(media_type, "png"), "source": {"bytes": data}}}


def _blocks(content: Any) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[JSON] = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            blocks.append(_image(part))
    return blocks


def _tool_result(message: JSON) -> JSON:
    text = tool_text(message.get("content"))
    status = "success"
    if text.startswith(TOOL_ERROR_MARK):
        status, text = "error", text.removeprefix(TOOL_ERROR_MARK)
    return {"toolResult": {"toolUseId": message.get("tool_call_id", ""),
                           "content": [{"text": text}], "status": status}}  # fmt: skip


def _assistant(message: JSON) -> list[JSON]:
    blocks = _blocks(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id", ""),
                    "name": function.get("name", ""),
                    "input": parse_arguments(function.get("arguments")),
                }
            }
        )
    return blocks  # fmt: skip


def _messages(openai_messages: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    return split_turns(
        openai_messages, blocks=_blocks, assistant=_assistant, tool_result=_tool_result
    )


def _tool_config(body: JSON) -> JSON | None:
    choice = body.get("tool_choice")
    if not body.get("tools") or choice == "none":
        return None  # Converse has no "none": offering no tools is the same
    config: JSON = {"tools": [
        {"toolSpec": {"name": (t.get("function") or {}).get("name", ""),
                      "description": (t.get("function") or {}).get("description") or "",
                      "inputSchema": {"json": (t.get("function") or {}).get("parameters")
                                      or {"type": "object", "properties": {}}}}}
        for t in body["tools"]
    ]}  # fmt: skip
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        config["toolChoice"] = {"tool": {"name": (choice.get("function") or {}).get("name", "")}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    return config


def request_to_bedrock(body: JSON) -> JSON:
    """A Converse request equivalent to the OpenAI chat request `body`."""
    system, messages = _messages(body.get("messages") or [])
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        # Converse has no schema-constrained output; the schema becomes an instruction.
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        system.append({"text": "Answer with only a JSON value that matches this JSON Schema: "
                       + orjson.dumps(schema).decode()})  # fmt: skip
    elif response_format.get("type") == "json_object":
        system.append({"text": "Answer with only a JSON object."})
    out: JSON = {"messages": messages}
    if system:
        out["system"] = system
    config: JSON = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        out["inferenceConfig"] = config
    tool_config = _tool_config(body)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    return out


def usage_to_openai(usage: Any) -> JSON:
    """Converse usage as OpenAI usage: prompt tokens include cache reads and writes."""
    usage = usage if isinstance(usage, dict) else {}
    read = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + read + written
    output = int(usage.get("outputTokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
    }


def _call(tool_use: JSON) -> JSON:
    return {
        "id": tool_use.get("toolUseId", ""),
        "type": "function",
        "function": {
            "name": tool_use.get("name", ""),
            "arguments": orjson.dumps(tool_use.get("input") or {}).decode(),
        },
    }


def response_to_openai(answer: JSON, model: str) -> JSON:
    """An OpenAI chat.completion equivalent to a Converse answer."""
    blocks = ((answer.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(b["text"] for b in blocks if isinstance(b.get("text"), str))
    calls = [_call(b["toolUse"]) for b in blocks if isinstance(b.get("toolUse"), dict)]
    message: JSON = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + secrets.token_hex(8), "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": STOP_REASONS.get(answer.get("stopReason") or "", "stop")}],
        "usage": usage_to_openai(answer.get("usage")),
    }  # fmt: skip


class BedrockStreamToOpenAI:
    """Turns converse-stream events (type and payload) into OpenAI chunks."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = "chatcmpl-" + secrets.token_hex(8)
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self.finished = False

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return openai_chunk(self._id, self._created, self._model, delta, finish)

    def feed(self, kind: str, event: JSON) -> list[JSON]:
        """The OpenAI chunks for one Converse stream event."""
        index = int(event.get("contentBlockIndex") or 0)
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            tool = (event.get("start") or {}).get("toolUse")
            if not isinstance(tool, dict):
                return []
            self._tools[index] = len(self._tools)
            return [
                self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": self._tools[index],
                                "id": tool.get("toolUseId", ""),
                                "type": "function",
                                "function": {"name": tool.get("name", ""), "arguments": ""},
                            }
                        ]
                    }
                )
            ]
        if kind == "contentBlockDelta":
            delta = event.get("delta") or {}
            if isinstance(delta.get("text"), str):
                return [self._chunk({"content": delta["text"]})]
            tool = delta.get("toolUse")
            if isinstance(tool, dict) and index in self._tools:
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": self._tools[index],
                                    "function": {"arguments": tool.get("input", "")},
                                }
                            ]
                        }
                    )
                ]
            return []
        if kind == "messageStop":
            return [self._chunk({}, STOP_REASONS.get(event.get("stopReason") or "", "stop"))]
        if kind == "metadata":
            self.finished = True
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = usage_to_openai(event.get("usage"))
            return [chunk]
        return []  # contentBlockStop carries nothing OpenAI has
