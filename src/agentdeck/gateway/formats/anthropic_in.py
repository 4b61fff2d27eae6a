"""Anthropic Messages requests -> the gateway's OpenAI format, and its answers back.

Serves `POST /v1/messages`: a client speaking Anthropic reaches any provider. Tool-use ids are
kept both ways, so a client can send `tool_result` blocks for the ids it received.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.formats.anthropic_out import TOOL_ERROR_MARK
from agentdeck.gateway.formats.turns import parse_arguments
from agentdeck.gateway.models import JSON

FINISH_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _fail(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _part(block: Any, where: str) -> JSON:
    if not isinstance(block, dict):
        raise _fail(f"'{where}' must be an object", where)
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _fail(f"'{where}.text' must be a string", f"{where}.text")
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        source = _object(block.get("source"), f"{where}.source")
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        elif source.get("type") == "url":
            url = str(source.get("url", ""))
        else:
            raise _fail(f"'{where}.source.type' must be base64 or url", f"{where}.source.type")
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document":
        source = _object(block.get("source"), f"{where}.source")
        data = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
        return {"type": "file", "file": {"file_data": data}}
    raise _fail(f"'{where}.type' {kind!r} is not supported here", f"{where}.type")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _user_turn(content: Any, where: str) -> list[JSON]:
    """One Anthropic user turn: tool results become tool messages, the rest one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise _fail(f"'{where}.content' must be a string or an array of blocks", f"{where}.content")
    out: list[JSON] = []
    parts: list[JSON] = []
    for index, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "tool_result":
            if not isinstance(block.get("tool_use_id"), str) or not block["tool_use_id"]:
                raise _fail(
                    f"'{where}.content[{index}].tool_use_id' is required for a tool_result",
                    f"{where}.content[{index}].tool_use_id",
                )
            result = block.get("content")
            text = _text_of(result)
            if block.get("is_error"):
                text = TOOL_ERROR_MARK + text
            out.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}
            )
        else:
            parts.append(_part(block, f"{where}.content[{index}]"))
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_turn(content: Any, where: str) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise _fail(f"'{where}.content' must be a string or an array of blocks", f"{where}.content")
    texts: list[str] = []
    calls: list[JSON] = []
    for index, block in enumerate(content):
        kind = _object(block, f"{where}.content[{index}]").get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name", "")),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    message: JSON = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _object(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise _fail(f"'{where}' must be an object", where)
    return value


def _tool_choice(choice: Any) -> Any:
    kind = _object(choice, "tool_choice").get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise _fail(
            f"'tool_choice.type' must be auto, any, tool or none, got {kind!r}", "tool_choice.type"
        )
    if kind == "any":
        return "required"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    if kind == "none":
        return "none"
    return "auto"


def _check_shape(body: JSON) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _fail("'model' is required and must be a string", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _fail("'max_tokens' is required and must be a positive integer", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _fail("'messages' is required and must be a non-empty array", "messages")


def request_to_openai(body: JSON) -> JSON:
    """The gateway's OpenAI request for an Anthropic Messages request (400 on a bad shape)."""
    _check_shape(body)
    out: JSON = {"model": body["model"], "messages": _messages(body),
                 "max_tokens": body["max_tokens"]}  # fmt: skip
    for key in ("temperature", "top_p", "top_k", "stream"):
        if body.get(key) is not None:
            out[key] = body[key]
    _tools_and_options(body, out)
    return out


def _messages(body: JSON) -> list[JSON]:
    messages: list[JSON] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role == "user":
            messages.extend(_user_turn(message.get("content"), where))
        elif role == "assistant":
            messages.append(_assistant_turn(message.get("content"), where))
        else:
            raise _fail(
                f"'{where}.role' must be 'user' or 'assistant', got {role!r}", f"{where}.role"
            )
    return messages


def _tools_and_options(body: JSON, out: JSON) -> None:
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _fail("'stop_sequences' must be an array of strings", "stop_sequences")
        if stops:
            out["stop"] = stops
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("'tools' must be an array", "tools")
        out["tools"] = [_tool(tool, f"tools[{index}]") for index, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
        if body["tool_choice"].get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if metadata is not None:
        user = _object(metadata, "metadata").get("user_id")
        if user is not None:
            out["user"] = str(user)


def _tool(tool: Any, where: str) -> JSON:
    spec = _object(tool, where)
    schema = spec.get("input_schema", {"type": "object"})
    if not isinstance(schema, dict):
        raise _fail(f"'{where}.input_schema' must be a JSON Schema object", f"{where}.input_schema")
    return {"type": "function", "function": {
        "name": spec.get("name"), "description": spec.get("description", ""), "parameters": schema,
    }}  # fmt: skip


def usage_to_anthropic(usage: Any) -> JSON:
    """OpenAI usage as Anthropic usage: cached prompt tokens are reported as cache reads."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    read = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return {
        "input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - read - written),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
    }


def _message_id(openai_id: str) -> str:
    return openai_id if openai_id.startswith("msg_") else "msg_" + secrets.token_hex(12)


def response_to_anthropic(answer: JSON, model: str) -> JSON:
    """An Anthropic Message equivalent to an OpenAI chat.completion."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[JSON] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = parse_arguments(function.get("arguments"))
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": arguments,
            }
        )
    return {
        "id": _message_id(str(answer.get("id", ""))),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": FINISH_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": usage_to_anthropic(answer.get("usage")),
    }
