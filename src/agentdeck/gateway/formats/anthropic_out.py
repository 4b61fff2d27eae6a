"""OpenAI format -> Anthropic Messages, for calling an Anthropic upstream; and its answers back.

The gateway speaks OpenAI Chat Completions inside. This module turns such a request into an
Anthropic Messages request (system prompts, image parts, tools, tool calls and results with
their ids, stop sequences, structured output), and an Anthropic answer or event stream into
OpenAI objects, keeping usage (cache reads and writes included) and stop reasons.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.formats.turns import openai_chunk, parse_arguments, split_turns
from agentdeck.gateway.models import JSON

DEFAULT_MAX_TOKENS = 4096
TOOL_ERROR_MARK = "[tool error] "

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _image_block(part: JSON) -> JSON:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequestError("image_url part needs a url", param="messages")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[JSON]:
    """OpenAI message content (string or parts) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSON] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part))
        elif kind == "refusal":
            blocks.append({"type": "text", "text": part.get("refusal", "")})
        elif kind == "file":
            file = part.get("file") or {}
            data = str(file.get("file_data", ""))
            header, _, payload = data.partition(",")
            blocks.append(
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": header[5:].split(";")[0] or "application/pdf",
                        "data": payload,
                    },
                }
            )
    return blocks


def _assistant_blocks(message: JSON) -> list[JSON]:
    blocks = _blocks(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name", ""),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: JSON) -> JSON:
    content = message.get("content")
    result: JSON = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", "")}
    if isinstance(content, str) and content.startswith(TOOL_ERROR_MARK):
        # An Anthropic client's is_error result, carried through the OpenAI format.
        result["is_error"] = True
        content = content.removeprefix(TOOL_ERROR_MARK)
    result["content"] = content if isinstance(content, str) else _blocks(content)
    return result


def _messages(openai_messages: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    return split_turns(
        openai_messages, blocks=_blocks, assistant=_assistant_blocks, tool_result=_tool_result
    )


def _tools(body: JSON) -> list[JSON]:
    tools = []
    for tool in body.get("tools") or ():
        function = tool.get("function") or {}
        spec: JSON = {
            "name": function.get("name", ""),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append(spec)
    return tools


def _tool_choice(body: JSON) -> JSON | None:
    choice = body.get("tool_choice")
    parallel = body.get("parallel_tool_calls")
    mapped: JSON | None
    if choice is None:
        mapped = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        mapped = {"type": "auto"}
    elif choice == "required":
        mapped = {"type": "any"}
    elif choice == "none":
        mapped = {"type": "none"}
    else:
        mapped = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    if mapped is not None and parallel is False and mapped["type"] != "none":
        mapped["disable_parallel_tool_use"] = True
    return mapped


def request_to_anthropic(body: JSON, model: str) -> JSON:
    """An Anthropic Messages request equivalent to the OpenAI chat request `body`."""
    system, messages = _messages(body.get("messages") or [])
    out: JSON = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = system
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if user or body.get("user"):
        out["metadata"] = {"user_id": str(user or body["user"])}
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = _tools(body)
    if tools:
        out["tools"] = tools
    choice = _tool_choice(body)
    if choice is not None and (tools or choice["type"] == "none"):
        out["tool_choice"] = choice
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if body.get("stream"):
        out["stream"] = True
    return out


def usage_to_openai(usage: Any) -> JSON:
    """Anthropic usage as OpenAI usage: prompt tokens include cache reads and writes."""
    usage = usage if isinstance(usage, dict) else {}
    fresh = int(usage.get("input_tokens") or 0)
    read = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    output = int(usage.get("output_tokens") or 0)
    prompt = fresh + read + written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
    }


def response_to_openai(answer: JSON) -> JSON:
    """An OpenAI chat.completion equivalent to an Anthropic Messages answer."""
    texts: list[str] = []
    calls: list[JSON] = []
    for block in answer.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    message: JSON = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": answer.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_REASONS.get(answer.get("stop_reason") or "end_turn", "stop"),
            }
        ],
        "usage": usage_to_openai(answer.get("usage")),
    }


class AnthropicStreamToOpenAI:
    """Turns Anthropic stream events into OpenAI chunks, one event at a time."""

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._created = int(time.time())
        self._usage: JSON = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return openai_chunk(self._id, self._created, self._model, delta, finish)

    def feed(self, event: JSON) -> list[JSON]:
        """The OpenAI chunks for one Anthropic event (often none, sometimes two)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = message.get("id", "")
            self._model = message.get("model", "")
            self._usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = len(self._tool_index)
                self._tool_index[int(event.get("index", 0))] = index
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": block.get("id", ""),
                                    "type": "function",
                                    "function": {"name": block.get("name", ""), "arguments": ""},
                                }
                            ]
                        }
                    )
                ]
            text = block.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "message_delta":
            self._usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            reason = (event.get("delta") or {}).get("stop_reason") or "end_turn"
            return [self._chunk({}, STOP_REASONS.get(reason, "stop"))]
        if kind == "message_stop":
            usage_chunk = self._chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_to_openai(self._usage)
            return [usage_chunk]
        return []  # ping, and block stops, carry nothing OpenAI has

    def _delta(self, event: JSON) -> list[JSON]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta":
            index = self._tool_index.get(int(event.get("index", 0)), 0)
            return [
                self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "function": {"arguments": delta.get("partial_json", "")},
                            }
                        ]
                    }
                )
            ]
        return []
