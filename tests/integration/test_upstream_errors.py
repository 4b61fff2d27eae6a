"""Upstream failures and unknown models, as the OpenAI SDK sees them from the real gateway."""

from __future__ import annotations

import time
from collections.abc import Iterable

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._stack import Stack, all_model_names
from tests.integration._support import Metrics, expected_cost_micros

ASK = [{"role": "user", "content": "are you there?"}]
UPSTREAM_ERRORS = "agentdeck_gateway_upstream_errors_total"
CALL_FAILED = {"ok": 0, "error": 1, "client_closed": 0}


def _drain(stream: Iterable[ChatCompletionChunk], into: list[str | None]) -> None:
    for chunk in stream:
        into.append(chunk.choices[0].delta.content)


def test_unknown_model_is_not_found_and_lists_what_exists(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=ASK)
    error = caught.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert error.type == "invalid_request_error"
    assert error.param == "model"
    assert isinstance(error.body, dict)
    assert error.body["message"] == (
        "model 'gpt-nope' does not exist; available models: " + ", ".join(all_model_names())
    )


def test_unknown_model_on_stream_and_embeddings_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as streamed:
        client.chat.completions.create(model="gpt-nope", messages=ASK, stream=True)
    with pytest.raises(openai.NotFoundError) as embedded:
        client.embeddings.create(model="text-nope", input="x")
    assert streamed.value.code == embedded.value.code == "model_not_found"
    assert isinstance(embedded.value.body, dict)
    assert embedded.value.body["message"].startswith("model 'text-nope' does not exist;")


def test_upstream_503_is_a_502_naming_the_deployment(stack: Stack, client: openai.OpenAI) -> None:
    before = Metrics.scrape(stack.url)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-down", messages=ASK)
    after = Metrics.scrape(stack.url)

    error = caught.value
    assert error.status_code == 502
    assert error.type == "upstream_error"
    assert error.code == "upstream_error"
    assert isinstance(error.body, dict)
    assert error.body["message"] == "upstream chat-down/0 answered 503: model overloaded"
    assert error.body["param"] is None
    assert error.response.headers["x-agentdeck-request-id"].startswith("req_")
    errors = after.delta(before, UPSTREAM_ERRORS, deployment="chat-down/0", reason="upstream_error")
    assert errors == 2  # the default of two attempts: one retry of a 5xx
    assert error.response.headers["x-agentdeck-attempts"] == "2"
    assert after.calls_since(before, "chat-down", "chat-down/0") == CALL_FAILED
    assert after.spend_since(before, "chat-down/0") == (0, 0, 0)


def test_upstream_503_before_a_stream_starts_is_a_plain_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-down", messages=ASK, stream=True)
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "upstream chat-down/0 answered 503: model overloaded"


def test_upstream_429_keeps_its_status_and_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="chat-limited", messages=ASK)
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "7"
    assert error.code == "upstream_rate_limited"
    assert error.type == "upstream_error"
    assert isinstance(error.body, dict)
    assert error.body["message"] == "upstream chat-limited/0 answered 429: slow down"


async def test_upstream_429_async_client(stack: Stack) -> None:
    async with openai.AsyncOpenAI(base_url=stack.v1, api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="chat-limited", messages=ASK)
    assert caught.value.response.headers["retry-after"] == "7"


def test_upstream_that_never_answers_is_a_504_after_the_deployment_timeout(
    client: openai.OpenAI,
) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-hang", messages=ASK)
    elapsed = time.monotonic() - started

    error = caught.value
    assert error.status_code == 504
    assert error.code == "upstream_timeout"
    assert isinstance(error.body, dict)
    assert error.body["message"] == "upstream chat-hang/0 did not answer within 1.0s"
    assert 0.9 <= elapsed < 5


def test_a_request_deadline_shorter_than_the_upstream_timeout_ends_the_call(
    client: openai.OpenAI,
) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-hang-deadline", messages=ASK)
    elapsed = time.monotonic() - started
    assert caught.value.status_code == 504
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == (
        "the request deadline of 1s passed while waiting for upstream chat-hang-deadline/0"
    )
    assert 0.9 <= elapsed < 5  # the deadline (1 s), not the deployment's timeout (30 s)


def test_stream_reset_raises_mid_iteration_and_is_billed_once(
    stack: Stack, client: openai.OpenAI
) -> None:
    messages = [{"role": "user", "content": "tell me four words"}]
    before = Metrics.scrape(stack.url)
    received: list[str | None] = []
    stream = client.chat.completions.create(model="chat-flaky", messages=messages, stream=True)
    with pytest.raises(openai.APIError) as caught:
        _drain(stream, received)
    after = Metrics.scrape(stack.url)

    # The role chunk and the first of four pieces of "alpha beta gamma delta" got through.
    assert received == ["", "alpha "]
    error = caught.value
    assert isinstance(error.body, dict)
    assert error.body["code"] == "upstream_stream_broken"
    assert error.body["message"].startswith("upstream chat-flaky/0 broke off the stream")

    prompt, streamed = count_messages(messages), count_text("alpha ")
    cost = expected_cost_micros(prompt, streamed, *stack.prices("chat-flaky"))
    # What was streamed is paid for, exactly once, under the outcome "error".
    assert after.spend_since(before, "chat-flaky/0") == (prompt, streamed, cost)
    assert after.calls_since(before, "chat-flaky", "chat-flaky/0") == CALL_FAILED
    reason = "upstream_stream_broken"
    assert after.delta(before, UPSTREAM_ERRORS, deployment="chat-flaky/0", reason=reason) == 1
    assert after.value("agentdeck_gateway_streams_open") == 0


def test_reset_of_a_whole_answer_is_a_502(stack: Stack, client: openai.OpenAI) -> None:
    before = Metrics.scrape(stack.url)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-flaky", messages=ASK)
    after = Metrics.scrape(stack.url)

    error = caught.value
    assert error.status_code == 502
    assert error.code == "upstream_stream_broken"
    assert isinstance(error.body, dict)
    assert error.body["message"].startswith("upstream chat-flaky/0 broke off its answer")
    assert after.spend_since(before, "chat-flaky/0") == (0, 0, 0)
    assert after.calls_since(before, "chat-flaky", "chat-flaky/0") == CALL_FAILED


def test_gateway_keeps_serving_after_upstream_failures(client: openai.OpenAI) -> None:
    for model in ("chat-down", "chat-limited", "chat-flaky"):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model=model, messages=ASK)
    ok = client.chat.completions.create(model="chat", messages=ASK)
    assert ok.choices[0].message.content == "are you there?"
