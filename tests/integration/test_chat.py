"""Whole chat completions through the real gateway, routed over HTTP to the fake upstream."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest
from pydantic import BaseModel

from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._recorder import RECORDED_REPLY
from tests.integration._stack import FAKE_MODELS, RECORDED_ALIAS, Stack
from tests.integration._support import chat_usage, expected_cost_micros

REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello there, world!"},
]


def test_sync_chat_echoes_and_prices_the_call(stack: Stack, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    completion = raw.parse()

    assert raw.status_code == 200
    assert completion.choices[0].message.content == "Hello there, world!"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake"  # the upstream model behind the alias
    prompt, answer = chat_usage(MESSAGES, "Hello there, world!")
    assert (prompt, answer) == (19, 8)  # 3 per message + word pieces of up to 4 letters
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == prompt
    assert completion.usage.completion_tokens == answer
    assert completion.usage.total_tokens == prompt + answer

    assert REQUEST_ID.match(raw.headers["x-agentdeck-request-id"])
    assert raw.headers["x-agentdeck-deployment"] == "chat/0"
    assert raw.headers["x-agentdeck-usage-counted"] == "false"
    # 19 * 0.15 + 8 * 0.6 = 7.65 micro-dollars, rounded up once.
    cost = expected_cost_micros(prompt, answer, *stack.prices("chat"))
    assert cost == 8
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost


def test_request_ids_are_unique_per_request(client: openai.OpenAI) -> None:
    ids = {
        client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": f"n{i}"}]
        ).headers["x-agentdeck-request-id"]
        for i in range(5)
    }
    assert len(ids) == 5
    assert all(REQUEST_ID.match(request_id) for request_id in ids)


async def test_async_chat_echoes_with_exact_usage_and_cost(stack: Stack) -> None:
    messages = [{"role": "user", "content": "Async clients get the same answer, 42 times."}]
    async with openai.AsyncOpenAI(base_url=stack.v1, api_key="k", max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="chat-metered", messages=messages
        )
    completion = raw.parse()

    text = "Async clients get the same answer, 42 times."
    assert completion.choices[0].message.content == text
    prompt, answer = count_messages(messages), count_text(text)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, answer)
    assert raw.headers["x-agentdeck-deployment"] == "chat-metered/0"
    assert REQUEST_ID.match(raw.headers["x-agentdeck-request-id"])
    expected = expected_cost_micros(prompt, answer, *stack.prices("chat-metered"))
    assert expected == prompt * 3 + answer * 15
    assert int(raw.headers["x-agentdeck-cost-micros"]) == expected


async def test_async_concurrent_calls_each_get_their_own_answer(stack: Stack) -> None:
    import asyncio

    async with openai.AsyncOpenAI(base_url=stack.v1, api_key="k", max_retries=0) as client:
        answers = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": f"question {i}"}]
                )
                for i in range(20)
            )
        )
    assert [a.choices[0].message.content for a in answers] == [f"question {i}" for i in range(20)]


def test_in_process_fake_model_answers_under_its_own_name(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="structured", messages=[{"role": "user", "content": "weather?"}]
    )
    assert raw.parse().choices[0].message.content == FAKE_MODELS["structured"]["reply"]
    assert raw.headers["x-agentdeck-deployment"] == "structured/fake"
    assert raw.headers["x-agentdeck-cost-micros"] == "0"  # fake models are free


def test_tool_calls_are_parsed_by_the_sdk(stack: Stack, client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    raw = client.chat.completions.with_raw_response.create(
        model="chat-tools", messages=messages, tools=tools, tool_choice="auto"
    )
    completion = raw.parse()

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"tz": "Europe/Paris"},
    ]
    assert all(c.type == "function" and re.match(r"^call_\d+_\d$", c.id) for c in calls)
    completion_tokens = sum(
        count_text(c.function.name) + count_text(c.function.arguments) for c in calls
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == count_messages(messages)
    assert completion.usage.completion_tokens == completion_tokens
    cost = expected_cost_micros(
        count_messages(messages), completion_tokens, *stack.prices("chat-tools")
    )
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost


class Weather(BaseModel):
    city: str
    temperature_c: int


def test_json_schema_response_format_is_accepted_and_parsed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="chat-json",
        messages=[{"role": "user", "content": "Weather in Paris as JSON"}],
        response_format=Weather,
    )
    message = completion.choices[0].message
    assert message.content == '{"city": "Paris", "temperature_c": 21}'
    assert message.parsed == Weather(city="Paris", temperature_c=21)


def test_openai_parameters_reach_the_upstream_unchanged(
    stack: Stack, client: openai.OpenAI
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    messages = [{"role": "user", "content": "Say something recorded."}]
    before = len(stack.recorder.bodies)
    raw = client.chat.completions.with_raw_response.create(
        model=RECORDED_ALIAS,
        messages=messages,
        response_format=response_format,
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=77,
        seed=1234,
        stop=["\n\n"],
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"50256": -100},
        user="user-7",
        metadata={"team": "qa"},
        parallel_tool_calls=False,
        extra_body={"vendor_specific": {"keep": True}},
    )
    assert raw.parse().choices[0].message.content == RECORDED_REPLY
    assert len(stack.recorder.bodies) == before + 1
    sent = stack.recorder.bodies[-1]
    assert sent == {
        "messages": messages,
        "model": "upstream-recorded",  # the alias is replaced by the deployment's model
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "max_completion_tokens": 77,
        "metadata": {"team": "qa"},
        "parallel_tool_calls": False,
        "presence_penalty": 0.5,
        "response_format": response_format,
        "seed": 1234,
        "stop": ["\n\n"],
        "temperature": 0.3,
        "top_p": 0.9,
        "user": "user-7",
        "vendor_specific": {"keep": True},
    }
    # The recorder reports no usage, so the gateway counts it and says so.
    assert raw.headers["x-agentdeck-usage-counted"] == "true"
    prompt, answer = chat_usage(messages, RECORDED_REPLY)
    cost = expected_cost_micros(prompt, answer, *stack.prices(RECORDED_ALIAS))
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost


def test_raw_http_chat_answers_json_with_request_id(stack: Stack) -> None:
    response = httpx.post(
        stack.v1 + "/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "raw"}]},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["choices"][0]["message"]["content"] == "raw"
    assert response.json()["object"] == "chat.completion"
    assert REQUEST_ID.match(response.headers["x-agentdeck-request-id"])


@pytest.mark.parametrize("content", ["日本語のテキスト", "emoji 🚀 and accents: café"])
def test_unicode_content_round_trips(client: openai.OpenAI, content: str) -> None:
    completion = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content == content
    assert completion.usage is not None
    assert completion.usage.completion_tokens == count_text(content)
