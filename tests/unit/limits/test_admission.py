"""Limits at the gateway's front door, in process: budgets refuse with a clear 429 before any
upstream call, soft thresholds are reported once, reservations are given back whatever ends a
call, token and model-scope limits hold, counters are reconciled with the spend ledger after a
restart, and a budgeted request without an output cap gets the default one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from agentdeck.errors import RateLimitedError
from agentdeck.gateway.fake_engine import split_text
from agentdeck.gateway.providers import registry
from agentdeck.gateway.tokens import count_text
from agentdeck.identity.audit_chain import digest
from agentdeck.kv import MemoryKV
from agentdeck.limits.service import Budget, BudgetLedger, RateLimit, RateLimiter, Scope
from agentdeck.settings import Settings
from tests.conftest import owner_bootstrap
from tests.unit.gateway._metrics import metric_value
from tests.unit.limits._admission_support import (
    AUTH,
    FAKE_MODELS,
    OWNER_KEY,
    PROMPT,
    RECORDED,
    Deck,
    SlowReplyKV,
    chat_body,
    disconnect_after_first_chunk,
    models,
    open_app,
    wait_for_room_in_minute,
    worst_case,
)

OpenDeck = Callable[..., Any]


@pytest.fixture
async def open_deck(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[OpenDeck]:
    """Start an app (lifespan run) on the test's SQLite file; `close` stops it, and a later
    open starts a new one on the same file, as a restart would."""
    monkeypatch.setenv("TEST_OWNER_KEY", OWNER_KEY)
    recording = "tests.unit.limits._admission_support:RecordingProvider"
    monkeypatch.setitem(registry._BUILTIN, "recording", recording)
    RECORDED.clear()
    running: list[Deck] = []

    async def open_(**values: Any) -> Deck:
        settings = make_settings(
            models=models(), fake_models=FAKE_MODELS,
            identity=owner_bootstrap("TEST_OWNER_KEY"), **values,
        )  # fmt: skip
        running.append(await open_app(settings))
        return running[-1]

    yield open_
    for deck in reversed(running):
        await deck.close()


async def test_budget_exceeded_is_a_clear_429_and_never_reaches_the_upstream(
    open_deck: OpenDeck,
) -> None:
    deck = await open_deck()
    worst = worst_case("metered", 100, max_tokens=100)
    await deck.set_limit(metric="cost", amount=worst - 1, period="total")

    whole = await deck.chat("metered", max_tokens=100)
    streamed = await deck.chat("metered", max_tokens=100, stream=True)

    streamed_worst = worst_case("metered", 100, max_tokens=100, stream=True)
    for refused, may_cost in ((whole, worst), (streamed, streamed_worst)):
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert "x-agentdeck-attempts" not in refused.headers
        assert refused.json()["error"] == {
            "message": f"total budget of tenant {deck.tenant_id!r} would be exceeded: 0 of "
            f"{worst - 1} micro-dollars used or reserved, this request may cost up to {may_cost}",
            "type": "insufficient_quota",
            "param": None,
            "code": "budget_exceeded",
        }
    assert await deck.budgets() == [(deck.tenant_id, 0, 0)]
    # With room for exactly one worst case, the call goes through and gets the fake model's
    # first reply: the refused calls never reached it, not even as a retry.
    await deck.set_limit(metric="cost", amount=worst, period="total")
    admitted = await deck.chat("metered", max_tokens=100)
    assert admitted.status_code == 200
    assert admitted.json()["choices"][0]["message"]["content"] == "first answer"
    cost = int(admitted.headers["x-agentdeck-cost-micros"])
    assert await deck.budgets() == [(deck.tenant_id, cost, 0)]


async def test_soft_threshold_is_reported_once_as_metric_and_audit_event(
    open_deck: OpenDeck,
) -> None:
    deck = await open_deck()
    probe = await deck.chat("wordy", max_tokens=300)
    cost = int(probe.headers["x-agentdeck-cost-micros"])
    assert cost == PROMPT * 2 + count_text(FAKE_MODELS["wordy"]["reply"]) * 10
    await deck.set_limit(metric="cost", amount=10 * cost, period="day", soft_percent=50)

    crossings = []
    for _ in range(7):
        assert (await deck.chat("wordy", max_tokens=300)).status_code == 200
        scrape = (await deck.http.get("/metrics")).text
        crossings.append(
            metric_value(scrape, "agentdeck_budget_thresholds_crossed_total", scope_kind="tenant")
        )

    assert crossings == [0, 0, 0, 0, 1, 1, 1]  # spent went from 40% to 50% on the fifth call
    for _ in range(100):
        found = await deck.http.get(
            "/api/v1/audit", params={"action": "budget.threshold"}, headers=AUTH
        )
        events = found.json()["events"]
        if events:
            break
        await asyncio.sleep(0.02)
    after = {"spent_micros": 5 * cost, "limit_micros": 10 * cost, "percent": 50}
    assert [(e["actor"], e["resource"], e["after_digest"]) for e in events] == [
        ("system:limits", f"tenant/{deck.tenant_id}", digest(after))
    ]


async def test_reservation_is_given_back_when_the_upstream_fails(open_deck: OpenDeck) -> None:
    deck = await open_deck()
    await deck.set_limit(metric="cost", amount=1_000_000, period="month")

    failed = await deck.chat("failing", max_tokens=50)
    failed_stream = await deck.chat("failing", max_tokens=50, stream=True)
    for response in (failed, failed_stream):
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
        assert response.headers["x-agentdeck-attempts"] == "1"
    assert await deck.budgets() == [(deck.tenant_id, 0, 0)]

    # A stream the upstream resets mid-way costs what was streamed, and nothing stays reserved.
    broken = await deck.chat("resets", max_tokens=50, stream=True)
    assert broken.status_code == 200
    assert '"code":"upstream_stream_broken"' in broken.text.replace(" ", "")
    [(_, spent, reserved)] = await deck.budgets()
    assert reserved == 0
    first_piece = split_text(FAKE_MODELS["resets"]["reply"], 4)[0]  # streamed before the reset
    assert spent == PROMPT * 2 + count_text(first_piece) * 10


async def test_reservation_is_given_back_when_the_client_goes_away(open_deck: OpenDeck) -> None:
    deck = await open_deck()
    await deck.set_limit(metric="cost", amount=1_000_000, period="total")

    # A whole call cancelled while the upstream is still thinking: nothing was spent.
    call = asyncio.create_task(deck.chat("slow", max_tokens=50))
    worst = worst_case("slow", 50, max_tokens=50)
    for _ in range(200):
        if await deck.budgets() == [(deck.tenant_id, 0, worst)]:
            break
        await asyncio.sleep(0.01)
    assert await deck.budgets() == [(deck.tenant_id, 0, worst)]
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await deck.budgets() == [(deck.tenant_id, 0, 0)]

    # A stream whose client disconnects after the first chunk pays for what was streamed.
    sent = await disconnect_after_first_chunk(deck.app, chat_body("drip", stream=True))
    assert sent[0] == 200
    [(_, spent, reserved)] = await deck.budgets()
    assert reserved == 0
    whole = PROMPT * 2 + count_text(FAKE_MODELS["drip"]["reply"]) * 10
    assert PROMPT * 2 <= spent < whole  # the prompt, and less than the whole reply


async def test_tokens_per_minute_admits_the_bound_and_counts_what_was_used(
    open_deck: OpenDeck,
) -> None:
    deck = await open_deck()
    bound = len(orjson.dumps(chat_body("metered"))) + 64  # admitted before the call
    used = PROMPT + count_text("first answer")  # then corrected to the tokens really used
    limit = bound + 3 * used
    await deck.set_limit(metric="tokens", amount=limit, period="minute")
    wait_for_room_in_minute()

    statuses = [(await deck.chat("metered")).status_code for _ in range(4)]
    refused = await deck.chat("metered")

    assert statuses == [200, 200, 200, 200]  # 3 x used + bound still fits
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["message"].startswith(
        f"rate limit of {limit} tokens per minute for tenant {deck.tenant_id!r} reached"
    )
    assert refused.headers["x-ratelimit-limit-tokens"] == str(limit)
    assert refused.headers["x-ratelimit-remaining-tokens"] == str(limit - 4 * used)
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_model_scope_limits_hold_for_that_alias_only(open_deck: OpenDeck) -> None:
    deck = await open_deck()
    await deck.set_limit(scope_kind="model", scope_id="metered", metric="requests", amount=2)
    await deck.set_limit(scope_kind="model", scope_id="wordy", metric="cost", amount=100,
                         period="month")  # fmt: skip
    wait_for_room_in_minute()

    metered = [(await deck.chat("metered")).status_code for _ in range(3)]
    other = [(await deck.chat("other")).status_code for _ in range(3)]
    wordy = await deck.chat("wordy", max_tokens=5)

    assert metered == [200, 200, 429]
    assert other == [200, 200, 200]
    refused = (await deck.chat("metered")).json()["error"]
    assert refused["message"].startswith(
        f"rate limit of 2 requests per minute for model '{deck.tenant_id}/metered' reached"
    )
    assert wordy.status_code == 429
    assert wordy.json()["error"]["code"] == "budget_exceeded"
    assert f"month budget of model '{deck.tenant_id}/wordy'" in wordy.json()["error"]["message"]


async def test_counters_are_reconciled_with_the_spend_ledger_after_a_restart(
    open_deck: OpenDeck,
) -> None:
    first = await open_deck()
    await first.set_limit(metric="cost", amount=1_000_000, period="total")
    await first.set_limit(metric="cost", amount=500_000, period="day")
    await first.set_limit(scope_kind="model", scope_id="wordy", metric="cost", amount=90_000,
                          period="month")  # fmt: skip
    costs = [int((await first.chat(m)).headers["x-agentdeck-cost-micros"])
             for m in ("metered", "wordy", "other", "wordy")]  # fmt: skip
    before = sorted(await first.budgets())
    await first.close()

    # A new process on the same database starts with empty in-process counters...
    second = await open_deck()
    after = sorted(await second.budgets())

    tenant, wordy = second.tenant_id, f"{second.tenant_id}/wordy"
    assert before == sorted([(tenant, sum(costs), 0)] * 2 + [("wordy", costs[1] + costs[3], 0)])
    # ...raised to what the ledger holds: per period, and per alias for a model budget.
    assert after == before
    refused = await second.chat("wordy", max_tokens=10_000)
    assert refused.json()["error"]["message"].startswith(
        f"month budget of model {wordy!r} would be exceeded: {costs[1] + costs[3]} of 90000"
    )


async def test_default_output_cap_is_added_only_when_a_budget_applies(
    open_deck: OpenDeck,
) -> None:
    deck = await open_deck(limits={"default_max_output_tokens": 77})
    assert (await deck.chat("recorded")).status_code == 200
    await deck.set_limit(metric="cost", amount=1_000_000, period="total")
    assert (await deck.chat("recorded")).status_code == 200
    assert (await deck.chat("recorded", max_tokens=5)).status_code == 200
    assert (await deck.chat("recorded", max_completion_tokens=9)).status_code == 200

    caps = [(body.get("max_tokens"), body.get("max_completion_tokens")) for body in RECORDED]
    assert caps == [(None, None), (77, None), (5, None), (None, 9)]
    # The reservation was the worst case under that cap: refused with room for one token less.
    await deck.set_limit(metric="cost", amount=worst_case("recorded", 77) - 1, period="day")
    refused = (await deck.chat("recorded")).json()["error"]["message"]
    assert refused.endswith(f"this request may cost up to {worst_case('recorded', 77)}")


async def test_a_call_refused_by_its_budget_takes_nothing_from_rate_limits(
    open_deck: OpenDeck,
) -> None:
    deck = await open_deck()
    bound = len(orjson.dumps(chat_body("metered", max_tokens=10))) + 64
    await deck.set_limit(metric="requests", amount=2, period="minute")
    await deck.set_limit(metric="tokens", amount=2 * bound, period="minute")
    await deck.set_limit(metric="cost", amount=10, period="total")
    wait_for_room_in_minute()

    refused = [(await deck.chat("metered", max_tokens=10)).json()["error"]["code"]
               for _ in range(3)]  # fmt: skip
    await deck.set_limit(metric="cost", amount=1_000_000, period="total")
    admitted = [(await deck.chat("metered", max_tokens=10)).status_code for _ in range(2)]

    assert refused == ["budget_exceeded"] * 3
    assert admitted == [200, 200]  # all or nothing: the refusals counted no request or token


async def test_a_reservation_cancelled_before_its_answer_is_given_back() -> None:
    kv = SlowReplyKV()
    ledger = BudgetLedger(kv)
    budget = Budget(Scope("tenant", "t1"), 1_000, "total")
    reserving = asyncio.create_task(ledger.reserve([budget], 400))
    await asyncio.sleep(0.01)
    assert await ledger.usage(budget) == (0, 400)  # the script ran; its answer is on its way
    reserving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reserving
    await asyncio.sleep(0.2)
    assert await ledger.usage(budget) == (0, 0)


async def test_tokens_are_corrected_in_the_minute_they_were_admitted_in() -> None:
    now = [119.5]  # half a second before a minute ends
    limiter = RateLimiter(MemoryKV(), lambda: now[0])
    tokens = [RateLimit(Scope("tenant", "t1"), 1_000, "tokens")]
    window = await limiter.admit(tokens, 900)  # a call admitted at its upper bound...
    now[0] = 121.0
    await limiter.record(tokens, 40 - 900, window)  # ...used 40 when it ended, a minute later

    await limiter.admit(tokens, 1_000)  # the new minute holds its limit, no more
    with pytest.raises(RateLimitedError):
        await limiter.admit(tokens, 1)
