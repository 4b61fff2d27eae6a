"""The wire-format translators, without HTTP: OpenAI <-> Anthropic Messages (requests, answers,
stream events both ways) and OpenAI <-> Gemini (requests, answers, stream chunks)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agentdeck.errors import InvalidRequestError, UpstreamStatusError, UpstreamStreamBrokenError
from agentdeck.gateway.formats import anthropic_in, anthropic_out, gemini
from agentdeck.gateway.formats.anthropic_stream import AnthropicStreamEncoder, error_body
from agentdeck.gateway.models import JSON, CallRecord, StreamEvent, Usage

PNG = "data:image/png;base64,iVBORw0KGgo="
CAT = "https://example.com/cat.webp"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
FUNCTION = {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}
TOOL = {"type": "function", "function": FUNCTION}


def _text(text: str) -> JSON:
    return {"type": "text", "text": text}


def _call(call_id: str, name: str, arguments: str) -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_use(call_id: str, name: str, arguments: Any) -> JSON:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def _image(url: str) -> JSON:
    return {"type": "image_url", "image_url": {"url": url}}


CONVERSATION: list[JSON] = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": [_text("Use metric units.")]},
    {"role": "user", "content": [_text("Compare these."), _image(PNG), _image(CAT)]},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
        _call("call_a", "get_weather", '{"city":"Paris"}'),
        _call("call_b", "get_time", "not json")]},
    {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_b", "content": [_text("09:00")]},
    {"role": "user", "content": "Thanks."},
]  # fmt: skip


def test_openai_request_to_anthropic() -> None:
    body = {
        "messages": CONVERSATION, "max_completion_tokens": 50, "max_tokens": 99,
        "temperature": 0.3, "stop": "END", "tools": [TOOL], "tool_choice": "required",
        "parallel_tool_calls": False, "user": "u-1", "stream": True,
        "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
    }  # fmt: skip
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert anthropic_out.request_to_anthropic(body, "claude-x") == {
        "model": "claude-x", "max_tokens": 50, "temperature": 0.3, "stream": True,
        "system": [_text("Be brief."), _text("Use metric units.")],
        "messages": [
            {"role": "user", "content": [
                _text("Compare these."), {"type": "image", "source": png},
                {"type": "image", "source": {"type": "url", "url": CAT}}]},
            {"role": "assistant", "content": [
                _text("Checking."), _tool_use("call_a", "get_weather", {"city": "Paris"}),
                _tool_use("call_b", "get_time", {"_raw_arguments": "not json"})]},
            {"role": "user", "content": [  # both tool results and the next user turn, merged
                {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": [_text("09:00")]},
                _text("Thanks.")]},
        ],
        "metadata": {"user_id": "u-1"}, "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
    }  # fmt: skip


TOOL_CHOICES = [
    ("auto", None, True, {"type": "auto"}), ("required", None, True, {"type": "any"}),
    ({"type": "function", "function": {"name": "f"}}, None, True, {"type": "tool", "name": "f"}),
    ("none", None, False, {"type": "none"}), ("none", False, True, {"type": "none"}),
    (None, False, True, {"type": "auto", "disable_parallel_tool_use": True}),
    (None, None, True, None), ("auto", None, False, None),  # no tools: nothing to choose from
]  # fmt: skip


@pytest.mark.parametrize(("choice", "parallel", "tools", "expected"), TOOL_CHOICES)
def test_tool_choice_to_anthropic(choice: Any, parallel: Any, tools: bool, expected: Any) -> None:
    body: JSON = {"messages": [{"role": "user", "content": "x"}], "tools": [TOOL] * tools}
    for key, value in (("tool_choice", choice), ("parallel_tool_calls", parallel)):
        if value is not None:
            body[key] = value
    request = anthropic_out.request_to_anthropic(body, "m")
    assert request.get("tool_choice") == expected
    assert request["max_tokens"] == 4096  # the default when the client set none


ANTHROPIC_USAGE = {"input_tokens": 7, "output_tokens": 2, "cache_read_input_tokens": 3,
                   "cache_creation_input_tokens": 1}  # fmt: skip
OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13,
                "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 1}}  # fmt: skip
STOP_REASONS = [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"),
    ("max_tokens", "length"), ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"), (None, "stop"),
]  # fmt: skip


@pytest.mark.parametrize(("stop", "finish"), STOP_REASONS)
def test_anthropic_answer_to_openai(stop: str | None, finish: str) -> None:
    content = [_text("Hi "), {"type": "thinking", "thinking": "hm"}, _text("there"),
               _tool_use("toolu_1", "f", {"a": 1})]  # fmt: skip
    answer = {"id": "msg_1", "model": "claude-x", "stop_reason": stop, "usage": ANTHROPIC_USAGE,
              "content": content}  # fmt: skip
    completion = anthropic_out.response_to_openai(answer)
    assert (completion["id"], completion["model"]) == ("msg_1", "claude-x")
    assert completion["choices"][0]["finish_reason"] == finish
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "Hi there",
        "refusal": None, "tool_calls": [_call("toolu_1", "f", '{"a":1}')]}  # fmt: skip
    assert completion["usage"] == OPENAI_USAGE
    assert Usage.from_openai(completion["usage"]) == Usage(11, 2, 3, 1)


def _block(index: int, block: JSON) -> JSON:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, kind: str, **delta: str) -> JSON:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **delta}}


def _stop(index: int) -> JSON:
    return {"type": "content_block_stop", "index": index}


KIND = "chat.completion.chunk"
ROLE = ({"role": "assistant", "content": ""}, None)


def _deltas(chunks: list[JSON]) -> list[tuple[JSON, str | None]]:
    return [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]


def test_anthropic_stream_events_to_openai_chunks() -> None:
    translator = anthropic_out.AnthropicStreamToOpenAI()
    started = {"id": "msg_9", "model": "claude-x", "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
    stopped = {"stop_reason": "tool_use"}
    events: list[JSON] = [
        {"type": "message_start", "message": started},
        _block(0, _text("")), {"type": "ping"}, _delta(0, "text_delta", text="Hi"), _stop(0),
        _block(1, _tool_use("toolu_1", "f", {})),
        _delta(1, "input_json_delta", partial_json='{"a":'),
        _delta(1, "input_json_delta", partial_json="1}"),
        {"type": "message_delta", "delta": stopped, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]  # fmt: skip
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    assert {(c["id"], c["model"], c["object"]) for c in chunks} == {("msg_9", "claude-x", KIND)}
    head = {"index": 0, **_call("toolu_1", "f", "")}
    assert _deltas(chunks[:-1]) == [
        ROLE, ({"content": "Hi"}, None), ({"tool_calls": [head]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, None),
        ({}, "tool_calls"),
    ]  # fmt: skip
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {**OPENAI_USAGE, "completion_tokens": 9, "total_tokens": 20}


def test_anthropic_request_to_openai_keeps_ids_and_marks_failed_tool_results() -> None:
    gif = {"type": "base64", "media_type": "image/gif", "data": "R0lG"}
    failed = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
              "content": [_text("boom")]}  # fmt: skip
    body = {
        "model": "alias", "max_tokens": 64, "stop_sequences": ["END"], "top_k": 5,
        "system": [_text("Be "), _text("brief.")], "metadata": {"user_id": "u-7"},
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        "tools": [{"name": "f", "description": "F", "input_schema": SCHEMA}],
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": gif},
                {"type": "image", "source": {"type": "url", "url": CAT}}, _text("Look.")]},
            {"role": "assistant", "content": [_tool_use("toolu_1", "f", {"a": 1})]},
            {"role": "user", "content": [failed]},
        ],
    }  # fmt: skip
    called = _call("toolu_1", "f", '{"a":1}')
    assert anthropic_in.request_to_openai(body) == {
        "model": "alias", "max_tokens": 64, "top_k": 5, "stop": ["END"], "user": "u-7",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                _image("data:image/gif;base64,R0lG"), _image(CAT), _text("Look.")]},
            {"role": "assistant", "content": None, "tool_calls": [called]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "[tool error] boom"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "F",
                                                    "parameters": SCHEMA}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
    }  # fmt: skip


MALFORMED = [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
     "messages[0].role"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "param"), MALFORMED)
def test_malformed_anthropic_requests_are_refused(body: JSON, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        anthropic_in.request_to_openai(body)
    assert caught.value.param == param


FINISH_REASONS = [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
                  ("content_filter", "refusal"), (None, "end_turn")]  # fmt: skip


@pytest.mark.parametrize(("finish", "stop"), FINISH_REASONS)
def test_openai_answer_to_anthropic(finish: str | None, stop: str) -> None:
    calls = [_call("call_1", "f", '{"a":1}'), _call("call_2", "g", "{bad")]
    message = {"role": "assistant", "content": "Sure.", "tool_calls": calls}
    answer = {"id": "chatcmpl-1", "usage": OPENAI_USAGE,
              "choices": [{"message": message, "finish_reason": finish}]}  # fmt: skip
    converted = anthropic_in.response_to_anthropic(answer, "alias")
    assert converted["id"].startswith("msg_")
    failed = _tool_use("call_2", "g", {"_raw_arguments": "{bad"})
    assert converted["content"] == [_text("Sure."), _tool_use("call_1", "f", {"a": 1}), failed]
    assert (converted["model"], converted["stop_reason"]) == ("alias", stop)
    assert converted["usage"] == ANTHROPIC_USAGE


def _events(raw: bytes) -> list[JSON]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = block.split("\n")
        parsed = orjson.loads(data.removeprefix("data: "))
        assert name == "event: " + parsed["type"]
        out.append(parsed)
    return out


def _chunk(delta: JSON, finish: str | None = None) -> StreamEvent:
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return StreamEvent(orjson.dumps(chunk), chunk)


def test_openai_chunks_to_anthropic_events() -> None:
    encoder = AnthropicStreamEncoder("alias", "msg_1", 12)
    first = {"index": 0, **_call("call_1", "f", "")}
    second = {"index": 1, **_call("call_2", "g", "{}")}
    chunks = [
        _chunk({"role": "assistant", "content": ""}), _chunk({"content": "Hel"}),
        _chunk({"content": "lo"}), _chunk({"tool_calls": [first]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
        _chunk({"tool_calls": [second]}), _chunk({}, "tool_calls"),
        StreamEvent(b"", {"choices": [], "usage": OPENAI_USAGE}),
    ]  # fmt: skip
    raw = b"".join(encoder.chunk(c) or b"" for c in chunks)
    events = _events(raw + encoder.finish(CallRecord("req_1", "alias", usage=Usage(11, 9, 3, 1))))

    started = {"id": "msg_1", "type": "message", "role": "assistant", "model": "alias",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 12, "output_tokens": 0}}  # fmt: skip
    assert events[0] == {"type": "message_start", "message": started}
    assert events[1:-2] == [
        _block(0, _text("")), _delta(0, "text_delta", text="Hel"),
        _delta(0, "text_delta", text="lo"), _stop(0),
        _block(1, _tool_use("call_1", "f", {})),
        _delta(1, "input_json_delta", partial_json='{"a":1}'), _stop(1),
        _block(2, _tool_use("call_2", "g", {})),
        _delta(2, "input_json_delta", partial_json="{}"), _stop(2),
    ]  # fmt: skip
    stopped = {"stop_reason": "tool_use", "stop_sequence": None}
    usage = {**ANTHROPIC_USAGE, "output_tokens": 9}  # fresh input: 11 - 3 read - 1 written
    assert events[-2:] == [{"type": "message_delta", "delta": stopped, "usage": usage},
                           {"type": "message_stop"}]  # fmt: skip
    broken = encoder.error(UpstreamStreamBrokenError("cut"))  # a failure mid-stream
    assert _events(broken) == [{"type": "error", "error": {"type": "api_error", "message": "cut"}}]
    limited = orjson.loads(error_body(UpstreamStatusError("slow", upstream_status=429)))
    assert limited == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}


def _response(call_id: str, name: str, result: str) -> JSON:
    return {"functionResponse": {"id": call_id, "name": name, "response": {"result": result}}}


def test_openai_request_to_gemini() -> None:
    body = {
        "messages": CONVERSATION, "tools": [TOOL], "temperature": 0.2, "top_p": 0.9, "n": 1,
        "seed": 4, "max_completion_tokens": 80, "stop": ["END", "STOP"],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
    }  # fmt: skip
    assert gemini.request_to_gemini(body) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric units."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "Compare these."},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"fileUri": CAT, "mimeType": "image/webp"}}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"id": "call_a", "name": "get_weather",
                                  "args": {"city": "Paris"}}},
                {"functionCall": {"id": "call_b", "name": "get_time",
                                  "args": {"_raw_arguments": "not json"}}}]},
            {"role": "user", "parts": [  # results matched to their calls' names, then the text
                _response("call_a", "get_weather", "18C"), _response("call_b", "get_time", "09:00"),
                {"text": "Thanks."}]},
        ],
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather", "parametersJsonSchema": SCHEMA}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                 "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {"temperature": 0.2, "topP": 0.9, "candidateCount": 1, "seed": 4,
                             "maxOutputTokens": 80, "stopSequences": ["END", "STOP"],
                             "responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
    }  # fmt: skip


GEMINI_MODES = [("auto", None), ("none", {"functionCallingConfig": {"mode": "NONE"}}),
                ("required", {"functionCallingConfig": {"mode": "ANY"}})]  # fmt: skip


@pytest.mark.parametrize(("choice", "config"), GEMINI_MODES)
def test_tool_choice_to_gemini(choice: str, config: Any) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "tool_choice": choice,
            "response_format": {"type": "json_object"}}  # fmt: skip
    request = gemini.request_to_gemini(body)
    assert request.get("toolConfig") == config
    assert request["generationConfig"] == {"responseMimeType": "application/json"}


GEMINI_USAGE = {"promptTokenCount": 11, "candidatesTokenCount": 2, "thoughtsTokenCount": 5,
                "cachedContentTokenCount": 4}  # fmt: skip
GEMINI_OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                       "prompt_tokens_details": {"cached_tokens": 4}}  # fmt: skip
GEMINI_FINISHES = [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
]  # fmt: skip


@pytest.mark.parametrize(("reason", "finish"), GEMINI_FINISHES)
def test_gemini_answer_to_openai(reason: str, finish: str) -> None:
    parts = [{"text": "thinking hard", "thought": True}, {"text": "Paris"}]
    answer = {"responseId": "r1", "modelVersion": "gemini-x", "usageMetadata": GEMINI_USAGE,
              "candidates": [{"content": {"parts": parts}, "finishReason": reason}]}  # fmt: skip
    completion = gemini.response_to_openai(answer, "configured")
    assert (completion["id"], completion["model"]) == ("chatcmpl-r1", "gemini-x")
    message = {"role": "assistant", "content": "Paris", "refusal": None}
    expected = {"index": 0, "logprobs": None, "finish_reason": finish, "message": message}
    assert completion["choices"] == [expected]
    assert completion["usage"] == GEMINI_OPENAI_USAGE


def test_gemini_function_calls_to_openai_tool_calls() -> None:
    parts = [{"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}},
             {"functionCall": {"name": "g", "args": {}}}]  # fmt: skip
    answer = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    choice = gemini.response_to_openai(answer, "gemini-x")["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"]) == ("tool_calls", None)
    first, second = choice["message"]["tool_calls"]
    assert first == _call("fc_1", "f", '{"a":1}')
    assert second["id"].startswith("call_")  # Gemini sent none: one is made up
    assert second["function"] == {"name": "g", "arguments": "{}"}


def _parts(*parts: JSON, **extra: Any) -> JSON:
    return {"candidates": [{"content": {"parts": list(parts)}, **extra}]}


def test_gemini_stream_chunks_to_openai_chunks() -> None:
    translator = gemini.GeminiStreamToOpenAI("gemini-x")
    call = {"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}}
    feeds = [_parts({"text": "hm", "thought": True}, {"text": "Pa"}), _parts({"text": "ris"}),
             _parts(call), {**_parts({"text": ""}, finishReason="STOP"),
                            "usageMetadata": GEMINI_USAGE}]  # fmt: skip
    chunks = [chunk for feed in feeds for chunk in translator.feed(feed)]
    assert translator.finished is True
    assert _deltas(chunks) == [
        ROLE, ({"content": "Pa"}, None), ({"content": "ris"}, None),
        ({"tool_calls": [{"index": 0, **_call("fc_1", "f", '{"a":1}')}]}, None), ({}, "tool_calls"),
    ]  # fmt: skip
    assert {c["model"] for c in chunks} == {"gemini-x"}
    usage = translator.usage_chunk()
    assert (usage["choices"], usage["usage"]) == ([], GEMINI_OPENAI_USAGE)
    blocked = gemini.GeminiStreamToOpenAI("gemini-x")
    last = blocked.feed({"candidates": [{"finishReason": "SAFETY"}]})[-1]
    assert last["choices"][0]["finish_reason"] == "content_filter"
