"""A corpus of malformed requests: each gets a 4xx in the OpenAI error shape naming the problem."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

MSG = [{"role": "user", "content": "hi"}]


def _chat(**fields: Any) -> bytes:
    return orjson.dumps({"model": "fake", "messages": MSG, **fields})


# (name, path, raw body, status, error code, param, fragment of the message)
CORPUS: list[tuple[str, str, bytes, int, str, str | None, str]] = [
    ("empty body", "/v1/chat/completions", b"", 400, "invalid_request", "body", "empty"),
    (
        "not json",
        "/v1/chat/completions",
        b"{model: fake",
        400,
        "invalid_request",
        "body",
        "not valid JSON",
    ),
    (
        "json array",
        "/v1/chat/completions",
        b"[1, 2]",
        400,
        "invalid_request",
        "body",
        "must be a JSON object, not array",
    ),
    ("json string", "/v1/chat/completions", b'"hi"', 400, "invalid_request", "body", "not string"),
    (
        "missing model",
        "/v1/chat/completions",
        orjson.dumps({"messages": MSG}),
        400,
        "invalid_request",
        "model",
        "missing required field 'model'",
    ),
    (
        "model number",
        "/v1/chat/completions",
        orjson.dumps({"model": 4, "messages": MSG}),
        400,
        "invalid_request",
        "model",
        "'model' must be a string, not integer",
    ),
    (
        "model empty",
        "/v1/chat/completions",
        orjson.dumps({"model": "", "messages": MSG}),
        400,
        "invalid_request",
        "model",
        "must not be empty",
    ),
    (
        "unknown model",
        "/v1/chat/completions",
        orjson.dumps({"model": "gpt-9", "messages": MSG}),
        404,
        "model_not_found",
        "model",
        "model 'gpt-9' does not exist; available models: fake",
    ),
    (
        "missing messages",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake"}),
        400,
        "invalid_request",
        "messages",
        "missing required field 'messages'",
    ),
    (
        "messages object",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": {"role": "user"}}),
        400,
        "invalid_request",
        "messages",
        "'messages' must be an array, not object",
    ),
    (
        "messages empty",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": []}),
        400,
        "invalid_request",
        "messages",
        "at least one message",
    ),
    (
        "message not object",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": ["hi"]}),
        400,
        "invalid_request",
        "messages[0]",
        "'messages[0]' must be an object, not string",
    ),
    (
        "no role",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [{"content": "x"}]}),
        400,
        "invalid_request",
        "messages[0].role",
        "got None",
    ),
    (
        "bad role",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [*MSG, {"role": "robot", "content": "x"}]}),
        400,
        "invalid_request",
        "messages[1].role",
        "got 'robot'",
    ),
    (
        "no content",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [{"role": "user"}]}),
        400,
        "invalid_request",
        "messages[0].content",
        "missing required field 'messages[0].content'",
    ),
    (
        "content number",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [{"role": "user", "content": 5}]}),
        400,
        "invalid_request",
        "messages[0].content",
        "string or an array of parts, not integer",
    ),
    (
        "bad part type",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [{"role": "user", "content": [{"type": "x"}]}]}),
        400,
        "invalid_request",
        "messages[0].content[0].type",
        "got 'x'",
    ),
    (
        "text part without text",
        "/v1/chat/completions",
        orjson.dumps(
            {"model": "fake", "messages": [{"role": "user", "content": [{"type": "text"}]}]}
        ),
        400,
        "invalid_request",
        "messages[0].content[0].text",
        "must be a string",
    ),
    (
        "tool message without id",
        "/v1/chat/completions",
        orjson.dumps({"model": "fake", "messages": [{"role": "tool", "content": "42"}]}),
        400,
        "invalid_request",
        "messages[0].tool_call_id",
        "required for a tool message",
    ),
    (
        "stream not bool",
        "/v1/chat/completions",
        _chat(stream="yes"),
        400,
        "invalid_request",
        "stream",
        "'stream' must be a boolean, not string",
    ),
    (
        "stream_options without stream",
        "/v1/chat/completions",
        _chat(stream_options={"include_usage": True}),
        400,
        "invalid_request",
        "stream_options",
        "only allowed when 'stream' is true",
    ),
    (
        "temperature high",
        "/v1/chat/completions",
        _chat(temperature=5),
        400,
        "invalid_request",
        "temperature",
        "between 0 and 2, got 5",
    ),
    (
        "temperature string",
        "/v1/chat/completions",
        _chat(temperature="hot"),
        400,
        "invalid_request",
        "temperature",
        "must be a number, not string",
    ),
    (
        "top_p bool",
        "/v1/chat/completions",
        _chat(top_p=True),
        400,
        "invalid_request",
        "top_p",
        "must be a number, not boolean",
    ),
    (
        "n zero",
        "/v1/chat/completions",
        _chat(n=0),
        400,
        "invalid_request",
        "n",
        "at least 1, got 0",
    ),
    (
        "max_tokens float",
        "/v1/chat/completions",
        _chat(max_tokens=1.5),
        400,
        "invalid_request",
        "max_tokens",
        "must be an integer, not number",
    ),
    (
        "stop number",
        "/v1/chat/completions",
        _chat(stop=3),
        400,
        "invalid_request",
        "stop",
        "string or an array",
    ),
    (
        "tools object",
        "/v1/chat/completions",
        _chat(tools={"a": 1}),
        400,
        "invalid_request",
        "tools",
        "'tools' must be an array, not object",
    ),
    (
        "tool without function",
        "/v1/chat/completions",
        _chat(tools=[{"type": "function"}]),
        400,
        "invalid_request",
        "tools[0].function",
        "missing required field 'tools[0].function'",
    ),
    (
        "tool without name",
        "/v1/chat/completions",
        _chat(tools=[{"type": "function", "function": {"parameters": {}}}]),
        400,
        "invalid_request",
        "tools[0].function.name",
        "missing required field",
    ),
    (
        "tool parameters list",
        "/v1/chat/completions",
        _chat(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        400,
        "invalid_request",
        "tools[0].function.parameters",
        "JSON Schema object",
    ),
    (
        "tool_choice bad",
        "/v1/chat/completions",
        _chat(tool_choice="sometimes"),
        400,
        "invalid_request",
        "tool_choice",
        "got 'sometimes'",
    ),
    (
        "response_format type",
        "/v1/chat/completions",
        _chat(response_format={"type": "xml"}),
        400,
        "invalid_request",
        "response_format.type",
        "got 'xml'",
    ),
    (
        "json_schema missing",
        "/v1/chat/completions",
        _chat(response_format={"type": "json_schema"}),
        400,
        "invalid_request",
        "response_format.json_schema",
        "required when type is json_schema",
    ),
    (
        "json_schema no name",
        "/v1/chat/completions",
        _chat(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        400,
        "invalid_request",
        "response_format.json_schema.name",
        "missing required field",
    ),
    (
        "embeddings no input",
        "/v1/embeddings",
        orjson.dumps({"model": "fake"}),
        400,
        "invalid_request",
        "input",
        "missing required field 'input'",
    ),
    (
        "embeddings input number",
        "/v1/embeddings",
        orjson.dumps({"model": "fake", "input": 3}),
        400,
        "invalid_request",
        "input",
        "string or an array, not integer",
    ),
    (
        "embeddings mixed list",
        "/v1/embeddings",
        orjson.dumps({"model": "fake", "input": ["a", 1]}),
        400,
        "invalid_request",
        "input",
        "array of strings, or token arrays",
    ),
    (
        "embeddings bad encoding",
        "/v1/embeddings",
        orjson.dumps({"model": "fake", "input": "a", "encoding_format": "hex"}),
        400,
        "invalid_request",
        "encoding_format",
        "got 'hex'",
    ),
    (
        "embeddings unknown model",
        "/v1/embeddings",
        orjson.dumps({"model": "x", "input": "a"}),
        404,
        "model_not_found",
        "model",
        "model 'x' does not exist",
    ),
]


@pytest.mark.parametrize(
    ("path", "raw", "status", "code", "param", "fragment"),
    [case[1:] for case in CORPUS],
    ids=[case[0] for case in CORPUS],
)
async def test_malformed_request_gets_named_4xx(
    gateway_client: Any,
    path: str,
    raw: bytes,
    status: int,
    code: str,
    param: str | None,
    fragment: str,
) -> None:
    client = await gateway_client()
    response = await client.post(path, content=raw)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"] == param
    assert fragment in error["message"]
    assert error["type"] == "invalid_request_error"
    assert response.headers["x-agentdeck-request-id"].startswith("req_")


async def test_body_over_limit_is_413_before_reading(gateway_client: Any) -> None:
    client = await gateway_client(server={"max_body_bytes": 2048})
    response = await client.post("/v1/chat/completions", content=b"x" * 4096)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert "4096 bytes; the limit is 2048 bytes" in error["message"]


async def test_chunked_body_over_limit_is_413(gateway_client: Any) -> None:
    client = await gateway_client(server={"max_body_bytes": 2048})

    async def chunks() -> Any:
        for _ in range(8):
            yield b"y" * 512

    response = await client.post("/v1/chat/completions", content=chunks())
    assert response.status_code == 413
    assert "over the limit of 2048 bytes" in response.json()["error"]["message"]


async def test_unknown_route_and_wrong_method(gateway_client: Any) -> None:
    client = await gateway_client()
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "no route GET /v1/nothing",
        "type": "invalid_request_error",
        "code": "not_found",
        "param": None,
    }
    wrong = await client.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["message"] == "GET is not allowed on /v1/chat/completions"
