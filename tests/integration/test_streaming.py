"""Streamed chat completions through the real gateway: chunk by chunk, usage, tool calls."""

from __future__ import annotations

import itertools
import json
import re
import time

import httpx
import openai

from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._recorder import RECORDED_REPLY, TOOL_ARGUMENTS, TOOL_NAME
from tests.integration._stack import RECORDED_ALIAS, RECORDED_TOOLS_ALIAS, Stack
from tests.integration._support import Metrics, chat_usage, expected_cost_micros

TEN_WORDS = "one two three four five six seven eight nine ten"


def test_chunks_arrive_one_by_one_not_buffered(stack: Stack, client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    stream = client.chat.completions.create(model="chat-slow", messages=messages, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    ended = time.monotonic() - started

    # chunks: 5 splits the 49 characters into 5 pieces of 10; 50 ms between upstream chunks.
    pieces = [piece for _, piece in arrivals]
    assert pieces == ["one two th", "ree four f", "ive six se", "ven eight ", "nine ten"]
    assert "".join(pieces) == TEN_WORDS
    times = [at for at, _ in arrivals]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert sum(gap >= 0.03 for gap in gaps) >= 3, gaps  # pieces came on their own
    assert times[-1] - times[0] >= 0.16
    assert ended - times[0] >= 0.2  # the first piece was in hand well before the end


def test_include_usage_puts_exact_usage_on_the_final_chunk(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    chunks = list(
        client.chat.completions.create(
            model="chat-slow",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    prompt, answer = chat_usage(messages, TEN_WORDS)
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (prompt, answer)
    assert final.usage.total_tokens == prompt + answer
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_without_include_usage_no_chunk_carries_usage(stack: Stack, client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    before = Metrics.scrape(stack.url)
    chunks = list(client.chat.completions.create(model="chat-slow", messages=messages, stream=True))
    after = Metrics.scrape(stack.url)

    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)  # the usage-only chunk was stripped
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEN_WORDS
    # The gateway still asked upstream for usage and billed from it.
    prompt, answer = chat_usage(messages, TEN_WORDS)
    cost = expected_cost_micros(prompt, answer, *stack.prices("chat-slow"))
    assert after.spend_since(before, "chat-slow/0") == (prompt, answer, cost)


def test_raw_stream_wire_format_ends_with_cost_comment_and_done(stack: Stack) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    body = {"model": "chat-slow", "messages": messages, "stream": True}
    with httpx.stream("POST", stack.v1 + "/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-agentdeck-deployment"] == "chat-slow/0"
        assert re.match(r"^req_[0-9a-f]{24}$", response.headers["x-agentdeck-request-id"])
        lines = [line for line in response.iter_lines() if line]

    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    events = [json.loads(item) for item in data[:-1]]
    # role chunk, 5 content chunks, finish chunk; the usage chunk is not the client's.
    assert len(events) == 7
    assert all(event["object"] == "chat.completion.chunk" for event in events)
    prompt, answer = chat_usage(messages, TEN_WORDS)
    cost = expected_cost_micros(prompt, answer, *stack.prices("chat-slow"))
    assert lines[-2] == f": agentdeck-cost-micros={cost}"


def test_streamed_tool_calls_are_assembled_by_the_sdk(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    ids: dict[int, str] = {}
    finish = None
    usage = None
    for chunk in client.chat.completions.create(
        model="chat-tools", messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or ():
                if call.id:
                    ids[call.index] = call.id
                if call.function and call.function.name:
                    names[call.index] = call.function.name
                if call.function and call.function.arguments:
                    arguments[call.index] = arguments.get(call.index, "") + call.function.arguments

    assert finish == "tool_calls"
    assert names == {0: "get_weather", 1: "get_time"}
    assert {i: json.loads(a) for i, a in arguments.items()} == {
        0: {"city": "Paris", "unit": "celsius"},
        1: {"tz": "Europe/Paris"},
    }
    assert all(re.match(rf"^call_\d+_{i}$", ids[i]) for i in (0, 1))
    assert usage is not None
    assert usage.prompt_tokens == count_messages(messages)
    assert usage.completion_tokens == sum(
        count_text(names[i]) + count_text(arguments[i]) for i in (0, 1)
    )


def test_sdk_stream_helper_accumulates_the_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    with client.chat.completions.stream(
        model="chat-slow", messages=messages, stream_options={"include_usage": True}
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == TEN_WORDS
    assert final.choices[0].message.content == TEN_WORDS
    assert final.usage is not None
    assert final.usage.completion_tokens == count_text(TEN_WORDS)


async def test_async_stream_yields_pieces(stack: Stack) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    async with openai.AsyncOpenAI(base_url=stack.v1, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="chat-slow", messages=messages, stream=True
        )
        pieces = [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
    assert pieces == ["one two th", "ree four f", "ive six se", "ven eight ", "nine ten"]


def test_stream_without_upstream_usage_is_counted(stack: Stack, client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Stream me something recorded."}]
    before_bodies = len(stack.recorder.bodies)
    before = Metrics.scrape(stack.url)
    chunks = list(
        client.chat.completions.create(
            model=RECORDED_ALIAS, messages=messages, stream=True, temperature=0.1
        )
    )
    after = Metrics.scrape(stack.url)

    sent = stack.recorder.bodies[before_bodies]
    assert sent["stream"] is True
    assert sent["temperature"] == 0.1
    # The gateway asks for usage on its own account even when the client did not.
    assert sent["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == RECORDED_REPLY
    assert all(chunk.usage is None for chunk in chunks)
    prompt, answer = chat_usage(messages, RECORDED_REPLY)
    cost = expected_cost_micros(prompt, answer, *stack.prices(RECORDED_ALIAS))
    assert after.spend_since(before, "recorded/0") == (prompt, answer, cost)


def test_client_disconnect_mid_stream_is_billed_once(stack: Stack) -> None:
    messages = [{"role": "user", "content": TEN_WORDS}]
    body = {"model": "chat-drip", "messages": messages, "stream": True}
    before = Metrics.scrape(stack.url)
    with httpx.stream("POST", stack.v1 + "/chat/completions", json=body, timeout=10) as response:
        for line in response.iter_lines():
            if '"content":"one' in line:
                break  # leave after the first piece: closing the response drops the connection
    deadline = time.monotonic() + 5
    after = Metrics.scrape(stack.url)
    while after.calls_since(before, "chat-drip", "chat-drip/0")["client_closed"] == 0:
        assert time.monotonic() < deadline, "the abandoned stream was never settled"
        time.sleep(0.05)
        after = Metrics.scrape(stack.url)

    assert after.calls_since(before, "chat-drip", "chat-drip/0") == {
        "ok": 0,
        "error": 0,
        "client_closed": 1,
    }
    prompt_tokens, output_tokens, _ = after.spend_since(before, "chat-drip/0")
    assert prompt_tokens == count_messages(messages)
    # What the relay took from upstream before the client left: at least the first piece,
    # far less than the whole ten-piece answer.
    assert count_text("one ") <= output_tokens < count_text(TEN_WORDS)
    assert after.value("agentdeck_gateway_streams_open") == 0


def test_counted_tool_call_usage_is_the_same_whole_or_streamed(
    stack: Stack, client: openai.OpenAI
) -> None:
    messages = [{"role": "user", "content": "Where is order A-1042?"}]
    # The recorder reports no usage: the gateway counts name and arguments, like the fake does.
    expected = (count_messages(messages), count_text(TOOL_NAME) + count_text(TOOL_ARGUMENTS))
    cost = expected_cost_micros(*expected, *stack.prices(RECORDED_TOOLS_ALIAS))

    before = Metrics.scrape(stack.url)
    raw = client.chat.completions.with_raw_response.create(
        model=RECORDED_TOOLS_ALIAS, messages=messages
    )
    middle = Metrics.scrape(stack.url)
    streamed = list(
        client.chat.completions.create(model=RECORDED_TOOLS_ALIAS, messages=messages, stream=True)
    )
    after = Metrics.scrape(stack.url)

    call = (raw.parse().choices[0].message.tool_calls or [])[0]
    assert (call.function.name, call.function.arguments) == (TOOL_NAME, TOOL_ARGUMENTS)
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    assert raw.headers["x-agentdeck-usage-counted"] == "true"
    assert middle.spend_since(before, "recorded-tools/0") == (*expected, cost)
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost
    assert after.spend_since(middle, "recorded-tools/0") == (*expected, cost)
