"""Every provider's wire format behind both client formats: the real `anthropic` SDK on
/v1/messages over OpenAI-, Anthropic- and Gemini-format upstreams, and the real `openai` SDK over
Anthropic-, Gemini- and Azure-format upstreams; whole and streamed, text and tool calls, usage,
cost, and the exact request each upstream received."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._resilience_stack import (
    SCRIPTED_REPLY,
    SECRET,
    TOOL_CALLS,
    Hit,
    WireStack,
    tools_alias,
    wire_stack,
)

SYSTEM = "You answer briefly."
QUESTION = "Name the capital of France."
WORDS = ["Name ", "the ", "capital ", "of ", "France."]
PROMPT = count_messages(
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
)
CALL_TOKENS = sum(count_text(n) + count_text(json.dumps(a, separators=(",", ":")))
                  for n, a in TOOL_CALLS)  # fmt: skip
SCHEMAS = {"get_weather": {"type": "object", "properties": {"city": {"type": "string"}}},
           "get_time": {"type": "object", "properties": {"tz": {"type": "string"}}}}  # fmt: skip
ANTHROPIC_TOOLS = [{"name": n, "description": f"{n} tool", "input_schema": s}
                   for n, s in SCHEMAS.items()]  # fmt: skip
OPENAI_TOOLS = [{"type": "function", "function": {"name": n, "description": f"{n} tool",
                                                  "parameters": s}}
                for n, s in SCHEMAS.items()]  # fmt: skip


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireStack]:
    with wire_stack(tmp_path_factory.mktemp("wire")) as stack:
        yield stack


@pytest.fixture
def claude(wire: WireStack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=wire.gateway.url, api_key="k", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def gpt(wire: WireStack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=wire.gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        yield sdk


def _call_ids(provider: str) -> list[str]:
    prefix = "toolu_" if provider == "anthropic" else ""  # the fake's Anthropic ids
    return [f"{prefix}call_0_0", f"{prefix}call_0_1"]


def test_unknown_model_is_a_404_in_each_client_shape(
    wire: WireStack, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    message = "model 'nope' does not exist; available models: " + ", ".join(wire.model_names)
    with pytest.raises(openai.NotFoundError) as chat:
        gpt.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    error = chat.value
    assert (error.status_code, error.code, error.param) == (404, "model_not_found", "model")
    assert error.body["message"] == message
    expected = {"type": "error", "error": {"type": "not_found_error", "message": message}}
    for stream in (False, True):
        with pytest.raises(anthropic.NotFoundError) as messages:
            claude.messages.create(model="nope", max_tokens=10, stream=stream,
                                   messages=[{"role": "user", "content": "x"}])  # fmt: skip
        assert messages.value.status_code == 404
        assert messages.value.body == expected


ASK: dict[str, Any] = {"max_tokens": 300, "system": SYSTEM,
                       "messages": [{"role": "user", "content": QUESTION}]}  # fmt: skip


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_anthropic_sdk_text_whole_and_streamed(claude: anthropic.Anthropic, provider: str) -> None:
    raw = claude.messages.with_raw_response.create(model=f"echo-{provider}", **ASK)
    whole = raw.parse()
    with claude.messages.stream(model=f"echo-{provider}", **ASK) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert raw.headers["x-agentdeck-deployment"] == f"echo-{provider}/0"
    for message in (whole, final):
        assert [(b.type, b.text) for b in message.content] == [("text", QUESTION)]
        assert (message.role, message.stop_reason) == ("assistant", "end_turn")
        usage = message.usage
        assert (usage.input_tokens, usage.output_tokens) == (PROMPT, count_text(QUESTION))
        assert usage.cache_read_input_tokens == 0
    assert whole.model == "fake"
    assert pieces == WORDS


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_anthropic_sdk_tool_use_whole(claude: anthropic.Anthropic, provider: str) -> None:
    message = claude.messages.create(
        model=tools_alias("anthropic", "whole", provider), tools=ANTHROPIC_TOOLS, **ASK
    )
    blocks = [(b.type, b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    ids = _call_ids(provider)
    assert blocks == [("tool_use", i, n, a) for i, (n, a) in zip(ids, TOOL_CALLS, strict=True)]
    assert len(message.content) == 2
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT, CALL_TOKENS)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_anthropic_sdk_tool_use_streamed(claude: anthropic.Anthropic, provider: str) -> None:
    model = tools_alias("anthropic", "stream", provider)
    with claude.messages.stream(model=model, tools=ANTHROPIC_TOOLS, **ASK) as stream:
        events = [e for e in stream if e.type in ("content_block_start", "content_block_stop")]
        final = stream.get_final_message()

    ids = _call_ids(provider)
    starts = [
        (e.index, e.content_block.id, e.content_block.name)
        for e in events
        if e.type == "content_block_start"
    ]
    assert starts == [(0, ids[0], "get_weather"), (1, ids[1], "get_time")]
    assert [e.index for e in events if e.type == "content_block_stop"] == [0, 1]
    blocks = [(b.type, b.id, b.name, b.input) for b in final.content]
    assert blocks == [("tool_use", i, n, a) for i, (n, a) in zip(ids, TOOL_CALLS, strict=True)]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT, CALL_TOKENS)


ROUND_TRIP: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather and time in Paris?"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_t", "name": "get_time", "input": {"tz": "CET"}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_w", "content": "18C and sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_t", "is_error": True,
         "content": [{"type": "text", "text": "clock unavailable"}]},
        {"type": "text", "text": "Summarise in one line."}]},
]  # fmt: skip
FAILED = "[tool error] clock unavailable"  # is_error, as the OpenAI format can carry it
SUMMARISE = {"type": "text", "text": "Summarise in one line."}
OPENAI_BODY = {
    "model": "rec-openai", "max_tokens": 300, "temperature": 0.2, "stop": ["END"], "user": "u-42",
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_w", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_t", "type": "function",
             "function": {"name": "get_time", "arguments": '{"tz":"CET"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_w", "content": "18C and sunny"},
        {"role": "tool", "tool_call_id": "toolu_t", "content": FAILED},
        {"role": "user", "content": [SUMMARISE]},
    ],
    "tools": OPENAI_TOOLS, "tool_choice": "auto", "parallel_tool_calls": False,
}  # fmt: skip
ANTHROPIC_BODY = {
    "model": "rec-anthropic", "max_tokens": 300, "temperature": 0.2, "stop_sequences": ["END"],
    "system": [{"type": "text", "text": SYSTEM}], "metadata": {"user_id": "u-42"},
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]},
        ROUND_TRIP[1],
        {"role": "user", "content": [
            ROUND_TRIP[2]["content"][0],
            {"type": "tool_result", "tool_use_id": "toolu_t", "is_error": True,
             "content": "clock unavailable"}, SUMMARISE]},
    ],
    "tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
}  # fmt: skip
GEMINI_BODY = {
    "contents": [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {"role": "model", "parts": [
            {"text": "Let me check."},
            {"functionCall": {"id": "toolu_w", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"id": "toolu_t", "name": "get_time", "args": {"tz": "CET"}}}]},
        {"role": "user", "parts": [  # each result named after the call it answers
            {"functionResponse": {"id": "toolu_w", "name": "get_weather",
                                  "response": {"result": "18C and sunny"}}},
            {"functionResponse": {"id": "toolu_t", "name": "get_time",
                                  "response": {"result": FAILED}}},
            {"text": "Summarise in one line."}]},
    ],
    "systemInstruction": {"parts": [{"text": SYSTEM}]},
    "tools": [{"functionDeclarations": [
        {"name": n, "description": f"{n} tool", "parametersJsonSchema": s}
        for n, s in SCHEMAS.items()]}],
    "generationConfig": {"temperature": 0.2, "maxOutputTokens": 300, "stopSequences": ["END"]},
}  # fmt: skip


def _cost(fresh: int, read: int, written: int, output: int) -> int:
    micros = fresh * Decimal(3) + read * Decimal("0.3") + written * Decimal("3.75") + output * 15
    return math.ceil(micros)  # USD per 1M tokens = micro-dollars per token


CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
# provider -> (body, path, credential header, (fresh input, cache reads, cache writes, output))
UPSTREAM_SIDE = {
    "openai": (OPENAI_BODY, "/v1/chat/completions", "authorization", (8, 3, 0, 2)),
    "anthropic": (ANTHROPIC_BODY, "/v1/messages", "x-api-key", (7, 3, 1, 2)),
    "gemini": (GEMINI_BODY, "/v1beta/models/rec-gemini:generateContent", "x-goog-api-key",
               (7, 4, 0, 7)),
}  # fmt: skip


def _credentials(hit: Hit) -> dict[str, str]:
    """The credential headers the upstream received, `Bearer ` taken off."""
    found = {h: hit.headers[h] for h in CREDENTIAL_HEADERS if h in hit.headers}
    return {h: v.removeprefix("Bearer ") for h, v in found.items()}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_anthropic_tool_results_reach_each_upstream_format_with_ids_and_names(
    wire: WireStack, claude: anthropic.Anthropic, provider: str
) -> None:
    raw = claude.messages.with_raw_response.create(
        model=f"rec-{provider}",
        max_tokens=300,
        system=SYSTEM,
        messages=ROUND_TRIP,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        metadata={"user_id": "u-42"},
        extra_body={"temperature": 0.2},
    )
    message = raw.parse()
    hit = wire.scripted.last(f"rec-{provider}")
    body, path, credential, (fresh, read, written, output) = UPSTREAM_SIDE[provider]

    assert hit.body == body
    assert hit.path == path
    assert _credentials(hit) == {credential: SECRET}
    assert hit.headers.get("anthropic-version") == (
        "2023-06-01" if provider == "anthropic" else None
    )
    assert [(b.type, b.text) for b in message.content] == [("text", SCRIPTED_REPLY)]
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens) == (fresh, read)
    assert (usage.cache_creation_input_tokens, usage.output_tokens) == (written, output)
    assert int(raw.headers["x-agentdeck-cost-micros"]) == _cost(fresh, read, written, output)


GPT_ASK: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
ASK_TEXT = [{"type": "text", "text": SYSTEM}, {"type": "text", "text": QUESTION}]


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "azure"])
def test_openai_sdk_text_whole_and_streamed_with_usage(gpt: openai.OpenAI, provider: str) -> None:
    whole = gpt.chat.completions.create(model=f"echo-{provider}", messages=GPT_ASK)
    chunks = list(
        gpt.chat.completions.create(
            model=f"echo-{provider}",
            messages=GPT_ASK,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    answer = count_text(QUESTION)
    assert whole.choices[0].message.content == QUESTION
    assert whole.choices[0].finish_reason == "stop"
    usage = whole.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        PROMPT,
        answer,
        PROMPT + answer,
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    assert [p for p in pieces if p] == WORDS
    assert chunks[-2].choices[0].finish_reason == "stop"
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (PROMPT, answer)
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "azure"])
def test_openai_sdk_parallel_tool_calls(gpt: openai.OpenAI, provider: str) -> None:
    ask = {"messages": GPT_ASK, "tools": OPENAI_TOOLS}
    whole = gpt.chat.completions.create(model=tools_alias("openai", "whole", provider), **ask)
    chunks = list(
        gpt.chat.completions.create(
            model=tools_alias("openai", "stream", provider),
            stream=True,
            stream_options={"include_usage": True},
            **ask,
        )
    )

    ids = _call_ids(provider)
    expected = [(i, n, a) for i, (n, a) in zip(ids, TOOL_CALLS, strict=True)]
    calls = whole.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == expected
    assert whole.choices[0].finish_reason == "tool_calls"
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (PROMPT, CALL_TOKENS)
    streamed: dict[int, list[str]] = {}
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            got = streamed.setdefault(call.index, ["", "", ""])
            got[0] += call.id or ""
            got[1] += (call.function and call.function.name) or ""
            got[2] += (call.function and call.function.arguments) or ""
    assert [(i, n, json.loads(a)) for i, n, a in streamed.values()] == expected
    assert sorted(streamed) == [0, 1]
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == CALL_TOKENS


# provider -> (path, credential header, body, (prompt, cached, completion), cost breakdown)
RECORDED = {
    "azure": ("/openai/deployments/rec-azure/chat/completions?api-version=2024-10-21", "api-key",
              {"model": "rec-azure", "messages": GPT_ASK}, (11, 3, 2), (8, 3, 0, 2)),
    "anthropic": ("/v1/messages", "x-api-key",
                  {"model": "rec-anthropic", "max_tokens": 4096, "system": [ASK_TEXT[0]],
                   "messages": [{"role": "user", "content": [ASK_TEXT[1]]}]},
                  (11, 3, 2), (7, 3, 1, 2)),
    "gemini": ("/v1beta/models/rec-gemini:generateContent", "x-goog-api-key",
               {"systemInstruction": {"parts": [{"text": SYSTEM}]},
                "contents": [{"role": "user", "parts": [{"text": QUESTION}]}]},
               (11, 4, 7), (7, 4, 0, 7)),  # thinking tokens are completion tokens
}  # fmt: skip


@pytest.mark.parametrize("provider", ["azure", "anthropic", "gemini"])
def test_openai_sdk_requests_usage_and_cost_through_each_upstream_format(
    wire: WireStack, gpt: openai.OpenAI, provider: str
) -> None:
    raw = gpt.chat.completions.with_raw_response.create(model=f"rec-{provider}", messages=GPT_ASK)
    completion = raw.parse()
    hit = wire.scripted.last(f"rec-{provider}")
    path, credential, body, (prompt, cached, output), cost = RECORDED[provider]

    assert (hit.path, hit.body) == (path, body)
    assert _credentials(hit) == {credential: SECRET}
    assert completion.choices[0].message.content == SCRIPTED_REPLY  # Gemini's thought left out
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, output)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == cached
    assert int(raw.headers["x-agentdeck-cost-micros"]) == _cost(*cost)


def test_streamed_message_names_the_same_model_as_the_whole_one(
    claude: anthropic.Anthropic,
) -> None:
    whole = claude.messages.create(model="echo-openai", **ASK)
    with claude.messages.stream(model="echo-openai", **ASK) as stream:
        streamed = stream.get_final_message()
    assert streamed.model == whole.model
