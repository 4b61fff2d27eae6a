"""Retries, Retry-After, deadlines, fallbacks, timeouts, broken and slow streams, circuit
breakers (in one process and shared through Redis) and routing strategies, through the real
gateway and the fake upstream over loopback, seen with the real OpenAI SDK."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._resilience_stack import (
    RESILIENCE_PRICES,
    SCRIPTED_REPLY,
    ResilienceStack,
    alias,
    dep,
    resilience_stack,
    servers,
    wait_for,
)
from tests.integration._support import Metrics, ServerProcess, expected_cost_micros

RETRIES = "agentdeck_gateway_retries_total"
FALLBACKS = "agentdeck_gateway_fallbacks_total"
UPSTREAM_ERRORS = "agentdeck_gateway_upstream_errors_total"
BREAKER = "agentdeck_gateway_breaker_state"


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResilienceStack]:
    with resilience_stack(tmp_path_factory.mktemp("resilience")) as stack:
        yield stack


def _sdk(proc: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proc.url + "/v1", api_key="k", max_retries=0, timeout=20)


def _ask(proc: ServerProcess, model: str, text: str = "ping", **extra: Any) -> tuple[Any, float]:
    """(raw response, seconds) of one whole chat completion."""
    started = time.monotonic()
    with _sdk(proc) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}], **extra
        )
    return raw, time.monotonic() - started


def _fails(proc: ServerProcess, model: str, kind: type[openai.APIStatusError], **extra: Any) -> Any:
    """(error, seconds) of a call that must fail with `kind`."""
    started = time.monotonic()
    with pytest.raises(kind) as caught:
        _ask(proc, model, **extra)
    return caught.value, time.monotonic() - started


def test_429_is_retried_no_sooner_than_its_retry_after(res: ResilienceStack) -> None:
    before = Metrics.scrape(res.gateway.url)
    raw, elapsed = _ask(res.gateway, "rl-once", "worth the wait")
    after = Metrics.scrape(res.gateway.url)
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "worth the wait"
    assert raw.headers["x-agentdeck-attempts"] == "2"
    assert 2.0 <= elapsed < 5.0
    assert after.delta(before, RETRIES, alias="rl-once", kind="rate_limited") == 1


def test_429_whose_retry_after_outlives_the_deadline_is_returned_at_once(
    res: ResilienceStack,
) -> None:
    error, elapsed = _fails(res.gateway, "rl-deadline", openai.RateLimitError)
    assert error.status_code == 429
    assert error.code == "upstream_rate_limited"
    assert error.body["message"] == "upstream rl-deadline/0 answered 429: slow down"
    assert error.response.headers["retry-after"] == "30"
    assert error.response.headers["x-agentdeck-attempts"] == "1"
    assert elapsed < 0.9  # neither the 30 s Retry-After nor the 1 s deadline was sat out


def test_503_then_success_is_retried_once(res: ResilienceStack) -> None:
    before = Metrics.scrape(res.gateway.url)
    raw, _ = _ask(res.gateway, "down-once", "second time lucky")
    after = Metrics.scrape(res.gateway.url)
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "second time lucky"
    assert raw.headers["x-agentdeck-attempts"] == "2"
    assert raw.headers["x-agentdeck-deployment"] == "down-once/0"
    assert after.delta(before, RETRIES, alias="down-once", kind="upstream_down") == 1
    errors = after.delta(before, UPSTREAM_ERRORS, deployment="down-once/0", reason="upstream_error")
    assert errors == 1
    assert after.calls_since(before, "down-once", "down-once/0")["ok"] == 1


def test_deployment_down_falls_back_within_the_deadline(res: ResilienceStack) -> None:
    before = Metrics.scrape(res.gateway.url)
    raw, elapsed = _ask(res.gateway, "A", "from the backup")
    after = Metrics.scrape(res.gateway.url)
    assert raw.parse().choices[0].message.content == "from the backup"
    headers = raw.headers
    assert headers["x-agentdeck-deployment"] == "B/0"
    assert headers["x-agentdeck-fallback-path"] == "A>B"
    assert headers["x-agentdeck-attempts"] == "3"  # two on A, one on B
    labels = {"from_alias": "A", "to_alias": "B", "kind": "upstream_down"}
    assert after.delta(before, FALLBACKS, **labels) == 1
    assert after.delta(before, UPSTREAM_ERRORS, deployment="A/0", reason="upstream_error") == 2
    prompt = count_messages([{"role": "user", "content": "from the backup"}])
    cost = expected_cost_micros(prompt, count_text("from the backup"), *RESILIENCE_PRICES)
    assert int(headers["x-agentdeck-cost-micros"]) == cost
    assert elapsed < 5.0


def _stream(client: openai.OpenAI, model: str, text: str, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True, **extra
    )


def test_no_first_token_in_time_fails_both_attempts_with_a_504(res: ResilienceStack) -> None:
    started = time.monotonic()
    with _sdk(res.gateway) as client, pytest.raises(openai.InternalServerError) as caught:
        _stream(client, "ftt", "anyone?")
    elapsed = time.monotonic() - started
    error = caught.value
    assert (error.status_code, error.code) == (504, "upstream_timeout")
    assert error.body["message"] == "upstream ftt/0 sent no first event within 0.5s"
    assert error.response.headers["x-agentdeck-attempts"] == "2"
    assert 1.0 <= elapsed < 2.5  # two 0.5 s waits, not the upstream's 3 s


def test_no_first_token_in_time_moves_the_stream_to_the_next_deployment(
    res: ResilienceStack,
) -> None:
    before = Metrics.scrape(res.gateway.url)
    started = time.monotonic()
    with _sdk(res.gateway) as client:
        raw = _stream(client, "ftt-pair", "rescued by the second")
        pieces = [c.choices[0].delta.content for c in raw.parse() if c.choices]
    elapsed = time.monotonic() - started
    after = Metrics.scrape(res.gateway.url)
    timeouts = {"deployment": "ftt-pair/0", "reason": "upstream_timeout"}
    assert after.delta(before, UPSTREAM_ERRORS, **timeouts) == 1
    assert raw.headers["x-agentdeck-deployment"] == "ftt-pair/1"
    assert raw.headers["x-agentdeck-attempts"] == "2"
    assert "".join(p or "" for p in pieces) == "rescued by the second"
    assert 0.5 <= elapsed < 2.0


def test_reset_mid_stream_is_an_error_billed_once_and_never_retried(res: ResilienceStack) -> None:
    messages = [{"role": "user", "content": "four words please"}]
    before = Metrics.scrape(res.gateway.url)
    received: list[str | None] = []
    with _sdk(res.gateway) as client:
        raw = _stream(client, "flaky", "four words please")
        with pytest.raises(openai.APIError) as caught:
            received.extend(c.choices[0].delta.content for c in raw.parse())
    after = Metrics.scrape(res.gateway.url)

    assert raw.headers["x-agentdeck-attempts"] == "1"
    assert received == ["", "alpha ", "beta g"]  # 4 pieces of 6 characters; reset after 3
    assert caught.value.body["code"] == "upstream_stream_broken"
    prompt, output = count_messages(messages), count_text("alpha beta g")
    cost = expected_cost_micros(prompt, output, *RESILIENCE_PRICES)
    assert after.spend_since(before, "flaky/0") == (prompt, output, cost)
    assert after.calls_since(before, "flaky", "flaky/0") == {
        "ok": 0,
        "error": 1,
        "client_closed": 0,
    }
    assert after.delta(before, RETRIES, alias="flaky", kind="upstream_down") == 0
    reason = "upstream_stream_broken"
    assert after.delta(before, UPSTREAM_ERRORS, deployment="flaky/0", reason=reason) == 1


def test_slow_stream_arrives_whole_and_spread_in_time(res: ResilienceStack) -> None:
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    chunks = []
    with _sdk(res.gateway) as client:
        raw = _stream(client, "drip", "ignored", stream_options={"include_usage": True})
        for chunk in raw.parse():
            chunks.append(chunk)
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    ended = time.monotonic() - started

    assert [p for _, p in arrivals] == ["one t", "wo th", "ree f", "our f", "ive"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == count_text("one two three four five")
    assert arrivals[-1][0] - arrivals[0][0] >= 0.5  # 0.8 s nominal: not buffered into one burst
    assert 1.2 <= ended < 6.0  # six 200 ms pauses before the finish chunk


def test_prompt_over_the_context_window_goes_to_the_larger_fallback(res: ResilienceStack) -> None:
    long_prompt = " ".join(["word"] * 30)
    before = Metrics.scrape(res.gateway.url)
    long_raw, _ = _ask(res.gateway, "small", long_prompt)
    short_raw, _ = _ask(res.gateway, "small", "hi")
    after = Metrics.scrape(res.gateway.url)

    assert long_raw.parse().choices[0].message.content == long_prompt
    assert long_raw.headers["x-agentdeck-deployment"] == "large/0"
    assert long_raw.headers["x-agentdeck-fallback-path"] == "small>large"
    assert long_raw.headers["x-agentdeck-attempts"] == "2"  # a 400 is not retried
    labels = {"from_alias": "small", "to_alias": "large", "kind": "context_window_exceeded"}
    assert after.delta(before, FALLBACKS, **labels) == 1
    assert after.delta(before, RETRIES, alias="small", kind="context_window_exceeded") == 0
    assert short_raw.parse().choices[0].message.content == "hi"
    assert short_raw.headers["x-agentdeck-deployment"] == "small/0"
    assert "x-agentdeck-fallback-path" not in short_raw.headers


def _state(proc: ServerProcess, deployment: str) -> float:
    return Metrics.scrape(proc.url).value(BREAKER, deployment=deployment)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _trip(res: ResilienceStack, model: str, proc: ServerProcess, alias_name: str) -> float:
    """Three 503s through `alias_name`; the moment after the breaker opened."""
    res.scripted.fail[model] = 503
    for _ in range(3):
        error, _ = _fails(proc, alias_name, openai.InternalServerError)
        assert error.body["message"] == f"upstream {alias_name}/0 answered 503: scripted 503"
    return time.monotonic()


def test_breaker_opens_refuses_probes_after_open_s_and_closes_on_success(
    res: ResilienceStack,
) -> None:
    scripted, proc = res.scripted, res.breakers
    opened = _trip(res, "brk-model", proc, "brk")
    assert scripted.counts["brk-model"] == 3
    assert _state(proc, "brk/0") == 2
    refused, _ = _fails(proc, "brk", openai.InternalServerError)
    assert refused.code == "no_deployment_available"
    assert scripted.counts["brk-model"] == 3  # the 4th call never reached the upstream

    _sleep_until(opened + 1.1)
    probe, _ = _fails(proc, "brk", openai.InternalServerError)  # the probe fails: open again
    assert probe.code == "upstream_error"
    assert scripted.counts["brk-model"] == 4
    reopened = time.monotonic()
    assert _state(proc, "brk/0") == 2
    assert _fails(proc, "brk", openai.InternalServerError)[0].code == "no_deployment_available"
    assert scripted.counts["brk-model"] == 4

    del scripted.fail["brk-model"]
    _sleep_until(reopened + 1.1)
    raw, _ = _ask(proc, "brk")
    assert raw.parse().choices[0].message.content == SCRIPTED_REPLY
    assert scripted.counts["brk-model"] == 5
    assert _state(proc, "brk/0") == 0
    assert _ask(proc, "brk")[0].status_code == 200
    assert scripted.counts["brk-model"] == 6


def test_breaker_probe_answered_429_does_not_wedge_the_breaker(res: ResilienceStack) -> None:
    scripted, proc = res.scripted, res.breakers
    opened = _trip(res, "brk429-model", proc, "brk429")
    _sleep_until(opened + 1.1)
    scripted.fail["brk429-model"] = 429
    _fails(proc, "brk429", openai.RateLimitError)  # the probe: the upstream is rate limited
    probed = time.monotonic()
    del scripted.fail["brk429-model"]
    _sleep_until(probed + 1.1)  # longer than open_s: the upstream is healthy again
    raw, _ = _ask(proc, "brk429")
    assert raw.status_code == 200


@pytest.mark.redis
def test_breaker_opened_in_one_process_is_refused_by_another_through_redis(
    res: ResilienceStack, redis_url: str, tmp_path: Path
) -> None:
    deployment_id = f"shared-{uuid.uuid4().hex[:10]}"
    model = deployment_id + "-model"
    config = {
        "kv": {"url": redis_url},
        "gateway": {"breaker": {"consecutive_failures": 3, "open_s": 30}},
        "models": {
            "shared": alias(
                dep(res.scripted.url + "/v1", model, id=deployment_id), retries={"attempts": 1}
            ),
        },
    }
    key = f"agentdeck:breaker:{deployment_id}"
    kv = redis.Redis.from_url(redis_url)
    try:
        with servers() as started:
            one = started.gateway(tmp_path / "one", config, "redis-gw-1")
            two = started.gateway(tmp_path / "two", config, "redis-gw-2")
            started.ready()
            res.scripted.fail[model] = 503
            for _ in range(3):
                _fails(one, "shared", openai.InternalServerError)
            took = wait_for(lambda: _state(two, deployment_id) == 2, timeout=1.0)
            refused, _ = _fails(two, "shared", openai.InternalServerError)
            until = float(kv.get(key) or 0)
        assert took < 1.0
        assert refused.code == "no_deployment_available"
        assert res.scripted.counts[model] == 3  # process 2 never called the upstream
        assert 25 < until - time.time() <= 30
    finally:
        kv.delete(key)
        kv.close()


def _routed(proc: ServerProcess, model: str, calls: int, concurrency: int) -> Counter[str]:
    """Which deployment served each of `calls` chat completions, `concurrency` at a time."""

    async def run() -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        async with openai.AsyncOpenAI(
            base_url=proc.url + "/v1", api_key="k", max_retries=0, timeout=20
        ) as client:

            async def one() -> str:
                async with gate:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=model, messages=[{"role": "user", "content": "route me"}]
                    )
                return raw.headers["x-agentdeck-deployment"]

            return await asyncio.gather(*(one() for _ in range(calls)))

    return Counter(asyncio.run(run()))


def test_weighted_gives_the_heavy_deployment_its_share(res: ResilienceStack) -> None:
    counts = _routed(res.gateway, "weighted", 400, 8)
    assert sum(counts.values()) == 400
    assert set(counts) == {"weighted/0", "weighted/1", "weighted/2", "weighted/3"}
    assert 240 <= counts["weighted/3"] <= 320  # weight 7 of 10: 280 expected


def test_priority_always_takes_the_first_deployment(res: ResilienceStack) -> None:
    assert _routed(res.gateway, "prio", 20, 4) == {"prio/0": 20}


def test_cost_takes_the_cheapest_deployment(res: ResilienceStack) -> None:
    assert _routed(res.gateway, "cheap", 20, 4) == {"cheap/2": 20}


def test_least_busy_spreads_concurrent_slow_calls(res: ResilienceStack) -> None:
    # Eight calls of 600 ms at once: each goes to a deployment with the fewest in flight.
    assert _routed(res.gateway, "spread", 8, 8) == {f"spread/{i}": 2 for i in range(4)}


def test_latency_prefers_the_faster_deployment_once_both_are_measured(
    res: ResilienceStack,
) -> None:
    warm_up = _routed(res.gateway, "fastest", 4, 1)
    assert set(warm_up) == {"fastest/0", "fastest/1"}  # each measured at least once
    assert _routed(res.gateway, "fastest", 20, 1)["fastest/1"] >= 18  # 50 ms slower: avoided
