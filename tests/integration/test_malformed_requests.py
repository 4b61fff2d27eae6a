"""A corpus of malformed raw HTTP requests: each gets a precise 4xx in OpenAI error shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration._stack import MAX_BODY_BYTES, Stack
from tests.integration._support import Metrics

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
USER = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Case:
    """One malformed request and the exact error it must get."""

    name: str
    status: int
    param: str | None
    fragment: str
    method: str = "POST"
    path: str = CHAT
    body: bytes | None = None
    json: Any = None
    code: str = "invalid_request"
    headers: dict[str, str] = field(default_factory=dict)


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": USER, **fields}


CASES = [
    Case("bad json", 400, "body", "request body is not valid JSON", body=b'{"model": "chat",'),
    Case("empty body", 400, "body", "request body is empty; send a JSON object", body=b""),
    Case(
        "json array",
        400,
        "body",
        "request body must be a JSON object, not array",
        json=[{"model": "chat"}],
    ),
    Case("json string", 400, "body", "must be a JSON object, not string", json="hello"),
    Case("missing model", 400, "model", "missing required field 'model'", json={"messages": USER}),
    Case(
        "model not a string",
        400,
        "model",
        "'model' must be a string, not integer",
        json={"model": 5, "messages": USER},
    ),
    Case("model empty", 400, "model", "'model' must not be empty", json=_chat(model="")),
    Case(
        "missing messages",
        400,
        "messages",
        "missing required field 'messages'",
        json={"model": "chat"},
    ),
    Case(
        "messages not an array",
        400,
        "messages",
        "'messages' must be an array, not string",
        json=_chat(messages="hi"),
    ),
    Case(
        "messages empty",
        400,
        "messages",
        "'messages' must contain at least one message",
        json=_chat(messages=[]),
    ),
    Case(
        "message not an object",
        400,
        "messages[0]",
        "'messages[0]' must be an object, not string",
        json=_chat(messages=["hi"]),
    ),
    Case(
        "message without role",
        400,
        "messages[0].role",
        "'messages[0].role' must be one of",
        json=_chat(messages=[{"content": "hi"}]),
    ),
    Case(
        "bad role",
        400,
        "messages[1].role",
        "got 'wizard'",
        json=_chat(messages=[*USER, {"role": "wizard", "content": "x"}]),
    ),
    Case(
        "message without content",
        400,
        "messages[0].content",
        "missing required field 'messages[0].content'",
        json=_chat(messages=[{"role": "user"}]),
    ),
    Case(
        "content part bad type",
        400,
        "messages[0].content[0].type",
        "'messages[0].content[0].type' must be one of",
        json=_chat(messages=[{"role": "user", "content": [{"type": "video"}]}]),
    ),
    Case(
        "tool message without id",
        400,
        "messages[1].tool_call_id",
        "'messages[1].tool_call_id' is required for a tool message",
        json=_chat(messages=[*USER, {"role": "tool", "content": "42"}]),
    ),
    Case("n zero", 400, "n", "'n' must be at least 1, got 0", json=_chat(n=0)),
    Case(
        "max_tokens not int",
        400,
        "max_tokens",
        "'max_tokens' must be an integer, not string",
        json=_chat(max_tokens="10"),
    ),
    Case(
        "temperature too high",
        400,
        "temperature",
        "'temperature' must be between 0 and 2, got 5",
        json=_chat(temperature=5),
    ),
    Case(
        "temperature bool",
        400,
        "temperature",
        "'temperature' must be a number, not boolean",
        json=_chat(temperature=True),
    ),
    Case(
        "top_p too high",
        400,
        "top_p",
        "'top_p' must be between 0 and 1, got 1.5",
        json=_chat(top_p=1.5),
    ),
    Case(
        "stream not bool",
        400,
        "stream",
        "'stream' must be a boolean, not string",
        json=_chat(stream="yes"),
    ),
    Case(
        "stream_options without stream",
        400,
        "stream_options",
        "'stream_options' is only allowed when 'stream' is true",
        json=_chat(stream_options={"include_usage": True}),
    ),
    Case(
        "stop not string or array",
        400,
        "stop",
        "'stop' must be a string or an array, not integer",
        json=_chat(stop=3),
    ),
    Case(
        "tool without function",
        400,
        "tools[0].function",
        "missing required field 'tools[0].function'",
        json=_chat(tools=[{"type": "function"}]),
    ),
    Case(
        "bad tool_choice",
        400,
        "tool_choice",
        "'tool_choice' must be one of",
        json=_chat(tool_choice="sometimes"),
    ),
    Case(
        "bad response_format",
        400,
        "response_format.type",
        "got 'yaml'",
        json=_chat(response_format={"type": "yaml"}),
    ),
    Case(
        "json_schema without schema spec",
        400,
        "response_format.json_schema",
        "'response_format.json_schema' is required when type is json_schema",
        json=_chat(response_format={"type": "json_schema"}),
    ),
    Case(
        "embeddings without input",
        400,
        "input",
        "missing required field 'input'",
        path=EMBED,
        json={"model": "embed"},
    ),
    Case(
        "embeddings empty input",
        400,
        "input",
        "'input' must not be an empty array",
        path=EMBED,
        json={"model": "embed", "input": []},
    ),
    Case(
        "embeddings mixed input",
        400,
        "input",
        "'input' must be a string, an array of strings",
        path=EMBED,
        json={"model": "embed", "input": ["a", 1]},
    ),
    Case(
        "embeddings bad encoding",
        400,
        "encoding_format",
        "'encoding_format' must be 'float' or 'base64', got 'hex'",
        path=EMBED,
        json={"model": "embed", "input": "a", "encoding_format": "hex"},
    ),
    Case(
        "body over the limit",
        413,
        "body",
        f"the limit is {MAX_BODY_BYTES} bytes",
        code="request_too_large",
        json=_chat(messages=[{"role": "user", "content": "x" * MAX_BODY_BYTES}]),
    ),
    Case(
        "unknown route",
        404,
        None,
        "no route GET /v1/nope",
        method="GET",
        path="/v1/nope",
        code="not_found",
    ),
    Case(
        "unknown route post",
        404,
        None,
        "no route POST /v1/completions/legacy",
        path="/v1/completions/legacy",
        json=_chat(),
        code="not_found",
    ),
    Case(
        "GET on chat route",
        405,
        None,
        "GET is not allowed on /v1/chat/completions",
        method="GET",
        code="method_not_allowed",
    ),
    Case(
        "DELETE on models route",
        405,
        None,
        "DELETE is not allowed on /v1/models",
        method="DELETE",
        path="/v1/models",
        code="method_not_allowed",
    ),
]


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    """A raw HTTP client for the gateway."""
    with httpx.Client(base_url=stack.url, timeout=10) as raw:
        yield raw


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_request_gets_a_precise_error(http: httpx.Client, case: Case) -> None:
    response = http.request(
        case.method, case.path, content=case.body, json=case.json, headers=case.headers
    )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-agentdeck-request-id"].startswith("req_")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == case.code
    assert error["param"] == case.param
    assert case.fragment in error["message"]


def test_chunked_body_over_the_limit_is_refused(http: httpx.Client) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"y" * 1024
        yield b'"}]}'

    response = http.post(CHAT, content=pieces())  # no content-length: chunked encoding
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "request_too_large",
        "body",
    )
    assert f"over the limit of {MAX_BODY_BYTES} bytes" in error["message"]


def test_405_names_the_allowed_method(http: httpx.Client) -> None:
    response = http.get(CHAT)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_no_malformed_request_is_counted_as_a_server_error(
    stack: Stack, http: httpx.Client
) -> None:
    before = Metrics.scrape(stack.url)
    statuses = [
        http.request(c.method, c.path, content=c.body, json=c.json).status_code for c in CASES
    ]
    after = Metrics.scrape(stack.url)
    assert all(400 <= status < 500 for status in statuses)
    server_errors = [
        key
        for key, value in after.samples.items()
        if key[0] == "agentdeck_http_requests_total"
        and dict(key[1])["status"].startswith("5")
        and value != before.samples.get(key, 0.0)
    ]
    assert server_errors == []
    assert after.requests_since(before, "other", "GET", 404) == 1
    assert after.requests_since(before, "/v1/chat/completions", "GET", 405) == 1
    valid = http.post(CHAT, json=_chat())
    assert valid.status_code == 200
