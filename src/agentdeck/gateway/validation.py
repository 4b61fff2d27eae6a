"""Checks on OpenAI-format request bodies: each problem becomes a 400 naming its field.

Hand-written rather than a pydantic model: the body is passed on as it came (unknown
parameters included), and these checks cost a few microseconds on the hot path.
"""

from __future__ import annotations

from typing import Any

import orjson

from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.models import JSON

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
MAX_EMBEDDING_DIMENSIONS = 8192
MAX_EMBEDDING_INPUTS = 2048
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


def _fail(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "integer" if isinstance(value, int) else "number"
    )


def parse_json_object(raw: bytes) -> JSON:
    """The body as a JSON object, or a 400 saying why it is not one."""
    if not raw:
        raise _fail("request body is empty; send a JSON object", "body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _fail(f"request body is not valid JSON: {exc}", "body") from exc
    if not isinstance(body, dict):
        raise _fail(f"request body must be a JSON object, not {_type_name(body)}", "body")
    return body


def _require_string(body: JSON, key: str, param: str | None = None) -> str:
    value = body.get(key)
    where = param or key
    if value is None:
        raise _fail(f"missing required field '{where}'", where)
    if not isinstance(value, str):
        raise _fail(f"'{where}' must be a string, not {_type_name(value)}", where)
    if not value:
        raise _fail(f"'{where}' must not be empty", where)
    return value


def _optional(body: JSON, key: str, kinds: tuple[type, ...], kind_name: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _fail(f"'{key}' must be {kind_name}, not {_type_name(value)}", key)
    return value


def _number_in(body: JSON, key: str, low: float, high: float) -> None:
    value = _optional(body, key, (int, float), "a number")
    if value is not None and not low <= value <= high:
        raise _fail(f"'{key}' must be between {low:g} and {high:g}, got {value}", key)


def _positive_int(body: JSON, key: str) -> None:
    value = _optional(body, key, (int,), "an integer")
    if value is not None and value < 1:
        raise _fail(f"'{key}' must be at least 1, got {value}", key)


def _check_content(message: JSON, where: str) -> None:
    content = message.get("content")
    if content is None:
        if message.get("role") == "assistant" and (
            message.get("tool_calls") or message.get("function_call")
        ):
            return
        raise _fail(f"missing required field '{where}.content'", f"{where}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(
            f"'{where}.content' must be a string or an array of parts, not {_type_name(content)}",
            f"{where}.content",
        )
    for index, part in enumerate(content):
        part_where = f"{where}.content[{index}]"
        if not isinstance(part, dict):
            raise _fail(f"'{part_where}' must be an object, not {_type_name(part)}", part_where)
        kind = part.get("type")
        if kind not in _PART_TYPES:
            raise _fail(
                f"'{part_where}.type' must be one of {sorted(_PART_TYPES)}, got {kind!r}",
                f"{part_where}.type",
            )
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _fail(f"'{part_where}.text' must be a string", f"{part_where}.text")


def _check_message(message: Any, index: int) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _fail(f"'{where}' must be an object, not {_type_name(message)}", where)
    role = message.get("role")
    if role not in _ROLES:
        raise _fail(
            f"'{where}.role' must be one of {sorted(_ROLES)}, got {role!r}", f"{where}.role"
        )
    _check_content(message, where)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _fail(
            f"'{where}.tool_call_id' is required for a tool message", f"{where}.tool_call_id"
        )
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise _fail(f"'{where}.tool_calls' must be an array", f"{where}.tool_calls")


def _check_tools(body: JSON) -> None:
    tools = _optional(body, "tools", (list,), "an array")
    for index, tool in enumerate(tools or ()):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _fail(f"'{where}' must be an object", where)
        if tool.get("type", "function") == "function":
            function = tool.get("function")
            if not isinstance(function, dict):
                raise _fail(f"missing required field '{where}.function'", f"{where}.function")
            _require_string(function, "name", f"{where}.function.name")
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise _fail(
                    f"'{where}.function.parameters' must be a JSON Schema object",
                    f"{where}.function.parameters",
                )
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, dict) and choice not in _TOOL_CHOICES:
        raise _fail(
            f"'tool_choice' must be one of {sorted(_TOOL_CHOICES)} or an object, got {choice!r}",
            "tool_choice",
        )


def _check_response_format(body: JSON) -> None:
    response_format = _optional(body, "response_format", (dict,), "an object")
    if response_format is None:
        return
    kind = response_format.get("type")
    if kind not in _RESPONSE_FORMATS:
        raise _fail(
            f"'response_format.type' must be one of {sorted(_RESPONSE_FORMATS)}, got {kind!r}",
            "response_format.type",
        )
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise _fail(
                "'response_format.json_schema' is required when type is json_schema",
                "response_format.json_schema",
            )
        _require_string(spec, "name", "response_format.json_schema.name")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise _fail(
                "'response_format.json_schema.schema' must be a JSON Schema object",
                "response_format.json_schema.schema",
            )


def check_chat_request(body: JSON) -> tuple[str, bool]:
    """Validate a chat completions body; returns (model, stream)."""
    model = _require_string(body, "model")
    messages = body.get("messages")
    if messages is None:
        raise _fail("missing required field 'messages'", "messages")
    if not isinstance(messages, list):
        raise _fail(f"'messages' must be an array, not {_type_name(messages)}", "messages")
    if not messages:
        raise _fail("'messages' must contain at least one message", "messages")
    for index, message in enumerate(messages):
        _check_message(message, index)
    stream = bool(_optional(body, "stream", (bool,), "a boolean"))
    options = _optional(body, "stream_options", (dict,), "an object")
    if options is not None:
        if not stream:
            raise _fail("'stream_options' is only allowed when 'stream' is true", "stream_options")
        _optional(options, "include_usage", (bool,), "a boolean")
    _number_in(body, "temperature", 0, 2)
    _number_in(body, "top_p", 0, 1)
    _number_in(body, "presence_penalty", -2, 2)
    _number_in(body, "frequency_penalty", -2, 2)
    for key in ("max_tokens", "max_completion_tokens", "n"):
        _positive_int(body, key)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise _fail(f"'stop' must be a string or an array, not {_type_name(stop)}", "stop")
    _check_tools(body)
    _check_response_format(body)
    _optional(body, "cache", (bool,), "a boolean")
    return model, stream


def check_embeddings_request(body: JSON) -> str:
    """Validate an embeddings body; returns the model."""
    model = _require_string(body, "model")
    value = body.get("input")
    if value is None:
        raise _fail("missing required field 'input'", "input")
    if isinstance(value, str):
        if not value:
            raise _fail("'input' must not be empty", "input")
    elif isinstance(value, list):
        if not value:
            raise _fail("'input' must not be an empty array", "input")
        if (
            not all(isinstance(item, str) for item in value)
            and not all(isinstance(item, int) and not isinstance(item, bool) for item in value)
            and not all(isinstance(item, list) for item in value)
        ):
            raise _fail("'input' must be a string, an array of strings, or token arrays", "input")
    else:
        raise _fail(f"'input' must be a string or an array, not {_type_name(value)}", "input")
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        raise _fail(
            f"'encoding_format' must be 'float' or 'base64', got {encoding!r}", "encoding_format"
        )
    _positive_int(body, "dimensions")
    _optional(body, "cache", (bool,), "a boolean")
    if (body.get("dimensions") or 0) > MAX_EMBEDDING_DIMENSIONS:
        raise _fail(
            f"'dimensions' must be at most {MAX_EMBEDDING_DIMENSIONS}, got {body['dimensions']}",
            "dimensions",
        )
    if isinstance(value, list) and len(value) > MAX_EMBEDDING_INPUTS:
        raise _fail(
            f"'input' may hold at most {MAX_EMBEDDING_INPUTS} items, got {len(value)}", "input"
        )
    return model
