"""Limits across replicas: three real gateway processes share one PostgreSQL schema and one
Redis database, and clients hit all three at once.

A rate limit admits exactly its amount, whichever replica a request lands on. A budget is never
exceeded, not even for an instant, while clients disconnect, upstream streams reset and
upstreams fail; afterwards nothing is left reserved and what was spent is exactly what the spend
ledger holds. The same check run against a deliberately naive check-then-charge ledger fails:
the test can see an overspend.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import redis

from tests.integration._limits_support import (
    FAKE_MODELS,
    INPUT_PRICE,
    OUTPUT_PRICE,
    BudgetMonitor,
    client_session,
    flush_redis,
    gateway_config,
    limits_redis_url,
    post_json,
    set_limit,
    spend_rows,
    start_replicas,
)
from tests.integration._support import ServerProcess, start_fake_upstream

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

RATE_LIMIT = 100
RATE_REQUESTS = 1_000
BUDGET = 1_000_000  # $1.00
CLIENTS_PER_REPLICA = 200
ROUNDS = 4
MAX_TOKENS = 48
# The worst case one workload request reserves: (body bytes + 64) input tokens, at most
# 300 here, and MAX_TOKENS output tokens.
WORST_CASE = (300 + 64) * int(INPUT_PRICE) + MAX_TOKENS * int(OUTPUT_PRICE)
COST_COMMENT = re.compile(r"^: agentdeck-cost-micros=(\d+)$")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One fake upstream for the module's gateways."""
    proc = start_fake_upstream(
        tmp_path_factory.mktemp("limits-upstream"),
        {"log_level": "warning", "fake_models": FAKE_MODELS},
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def kv_url(redis_url: str) -> Iterator[str]:
    """The limits tests' own Redis database, empty before and after the test."""
    url = limits_redis_url(redis_url)
    flush_redis(url)
    yield url
    flush_redis(url)


def wait_for_room_in_minute(needed_s: float) -> None:
    """Rate limits count in fixed minutes: start a burst only with `needed_s` left in one."""
    left = 60 - time.time() % 60
    if left < needed_s:
        time.sleep(left + 0.2)


async def test_rate_limit_is_exact_across_three_replicas(
    upstream: ServerProcess, workdir: Path, fresh_postgres: dict[str, str], kv_url: str
) -> None:
    servers = start_replicas(workdir, gateway_config(upstream, fresh_postgres, kv_url))
    try:
        tenant_id = set_limit(servers[0].url, metric="requests", amount=RATE_LIMIT)
        wait_for_room_in_minute(15)
        window = int(time.time() // 60)
        started = time.monotonic()
        async with client_session() as http:
            responses = await asyncio.gather(
                *(
                    post_json(
                        http,
                        f"{servers[n % 3].url}/v1/chat/completions",
                        {"model": "quick", "messages": [{"role": "user", "content": "hi"}]},
                    )
                    for n in range(RATE_REQUESTS)
                )
            )
        burst_s = time.monotonic() - started
        assert int(time.time() // 60) == window, f"the burst ({burst_s:.1f}s) crossed a minute"
        with redis.Redis.from_url(kv_url) as raw:
            counted = raw.get(f"agentdeck:rl:requests:tenant:{tenant_id}:{window}")
    finally:
        exits = [server.stop() for server in servers]

    statuses = Counter(response.status for response in responses)
    assert statuses == {200: RATE_LIMIT, 429: RATE_REQUESTS - RATE_LIMIT}
    assert int(counted or 0) == RATE_LIMIT
    for response in responses:
        if response.status == 200:
            assert response.json["choices"][0]["message"]["content"] == "ok"
            continue
        error = response.json["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert error["type"] == "rate_limit_error"
        assert f"rate limit of {RATE_LIMIT} requests per minute for tenant" in error["message"]
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert response.headers["x-ratelimit-limit-requests"] == str(RATE_LIMIT)
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert response.headers["x-ratelimit-reset-requests"] == f"{retry_after}s"
    assert exits == [0, 0, 0]


@dataclass
class Outcome:
    """What one client saw."""

    plan: str  # ok | disconnect | reset | down
    stream: bool
    status: int = 0
    code: str | None = None
    request_id: str | None = None
    cost: int | None = None  # as the gateway reported it, when the client read to the end


def body(n: int, alias: str, stream: bool) -> dict[str, Any]:
    """A workload request."""
    content = f"budget probe {n}"
    return {"model": alias, "messages": [{"role": "user", "content": content}],
            "max_tokens": MAX_TOKENS, "stream": stream}  # fmt: skip


async def call(http: aiohttp.ClientSession, url: str, n: int, plan: str, stream: bool) -> Outcome:
    """One client: whole or streamed, reading to the end or going away early."""
    seen = Outcome(plan, stream)
    alias = {"disconnect": "ok"}.get(plan, plan)
    if plan == "disconnect" and not stream:
        with contextlib.suppress(TimeoutError):  # gone before the upstream answers
            await asyncio.wait_for(post_json(http, url, body(n, alias, False)), 0.08)
        return seen
    async with http.post(url, json=body(n, alias, stream)) as response:
        seen.status = response.status
        seen.request_id = response.headers.get("x-agentdeck-request-id")
        if response.status != 200:
            seen.code = (await response.json())["error"]["code"]
        elif not stream:
            seen.cost = int(response.headers["x-agentdeck-cost-micros"])
            await response.read()
        else:
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if plan == "disconnect" and line.startswith("data: "):
                    response.close()  # the connection goes, mid-stream
                    break
                found = COST_COMMENT.match(line)
                if found:
                    seen.cost = int(found.group(1))
                elif line.startswith('data: {"error"'):
                    seen.code = "stream_error"
    return seen


def plan_of(rng: random.Random) -> tuple[str, bool]:
    """5% upstream 5xx, 10% streams reset by the upstream, 20% early disconnects, rest ok."""
    roll = rng.random()
    if roll < 0.05:
        return "down", rng.random() < 0.5
    if roll < 0.15:
        return "reset", True
    if roll < 0.35:
        return "disconnect", rng.random() < 0.5
    return "ok", rng.random() < 0.5


async def client(http: aiohttp.ClientSession, url: str, n: int, seed: int) -> list[Outcome]:
    """Up to ROUNDS calls one after the other, until the budget refuses one: so the budget
    is pressed again as calls settle below their reservations."""
    rng = random.Random(seed * 1_000 + n)
    seen: list[Outcome] = []
    for round_ in range(ROUNDS):
        plan, stream = plan_of(rng)
        seen.append(await call(http, url, n * ROUNDS + round_, plan, stream))
        if seen[-1].code == "budget_exceeded":
            break
    return seen


@dataclass
class Workload:
    """The outcome of a budget workload against three replicas."""

    outcomes: list[Outcome]
    monitor: BudgetMonitor
    spent: int = 0
    reserved: int = 0
    failures: list[str] = field(default_factory=list)


async def run_budget_workload(servers: list[ServerProcess], kv_url: str, seed: int) -> Workload:
    """Set a $1 budget, send 200 concurrent clients to each replica while a monitor samples
    the counters, then wait for everything to settle and check the invariant."""
    tenant_id = set_limit(servers[0].url, metric="cost", amount=BUDGET, period="total")
    with BudgetMonitor(kv_url, tenant_id, BUDGET) as monitor:
        async with client_session() as http:
            seen = await asyncio.gather(
                *(
                    client(http, f"{servers[n % 3].url}/v1/chat/completions", n, seed)
                    for n in range(CLIENTS_PER_REPLICA * len(servers))
                )
            )
        deadline = time.monotonic() + 10
        while monitor.read()[1] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # calls whose clients left may still be finishing
        await asyncio.sleep(0.5)
    work = Workload([outcome for outcomes in seen for outcome in outcomes], monitor)
    work.spent, work.reserved = monitor.read()
    work.failures = invariant_failures(work)
    return work


def invariant_failures(work: Workload) -> list[str]:
    """Everything wrong with the budget's counters: sampled over it while running, over it or
    still reserved afterwards."""
    monitor, found = work.monitor, []
    if monitor.samples < 50:
        found.append(f"only {monitor.samples} samples were taken")
    if monitor.violations:
        spent, reserved = max(monitor.violations, key=sum)
        found.append(
            f"{len(monitor.violations)} of {monitor.samples} samples over the budget, worst: "
            f"spent {spent} + reserved {reserved} > {BUDGET}"
        )
    if work.spent > BUDGET:
        found.append(f"spent {work.spent} > budget {BUDGET}")
    if work.reserved != 0:
        found.append(f"{work.reserved} micro-dollars still reserved after settling")
    return found


async def test_budget_is_never_exceeded_across_three_replicas(
    upstream: ServerProcess, workdir: Path, fresh_postgres: dict[str, str], kv_url: str
) -> None:
    servers = start_replicas(workdir, gateway_config(upstream, fresh_postgres, kv_url))
    try:
        work = await run_budget_workload(servers, kv_url, seed=4)
        budgets = httpx.get(servers[1].url + "/api/v1/budgets", timeout=10).json()
        tenant_id = budgets[0]["tenant_id"]
    finally:
        exits = [server.stop() for server in servers]  # SIGTERM: the spend queues are written
    assert exits == [0, 0, 0]

    assert work.failures == []
    assert [(b["spent_micros"], b["reserved_micros"]) for b in budgets] == [(work.spent, 0)]
    seen = Counter((o.plan, o.status, o.code) for o in work.outcomes)
    # The budget was contested: calls were refused, reservations came within two worst cases of
    # the limit, and most of it was spent.
    refused = sum(n for (_, _, code), n in seen.items() if code == "budget_exceeded")
    assert refused > 0, seen
    assert work.monitor.peak > BUDGET - 2 * WORST_CASE
    assert work.spent > BUDGET * 8 // 10
    assert {code for (_, _, code) in seen} <= {
        None, "budget_exceeded", "stream_error", "upstream_error"
    }, seen  # fmt: skip
    assert seen[("ok", 200, None)] > 50, seen

    # What Redis says was spent is exactly the sum of the ledger's rows, and every cost a
    # client was told is the cost of its row.
    ledger = await spend_rows(fresh_postgres, tenant_id)
    assert sum(ledger.values()) == work.spent
    told = {o.request_id: o.cost for o in work.outcomes if o.cost is not None}
    assert len(told) > 50
    assert {rid: ledger.get(rid) for rid in told} == told
    # A full answer costs its prompt and 40 output tokens; every admitted call has its row, a
    # reset stream costs what was streamed before the reset; refused calls cost nothing.
    assert all(cost > 40 * int(OUTPUT_PRICE) for cost in told.values())
    admitted = {o.request_id for o in work.outcomes if o.status == 200}
    assert admitted <= set(ledger)
    resets = [ledger[o.request_id] for o in work.outcomes if o.code == "stream_error"]
    assert resets
    assert all(0 < cost < 40 * int(OUTPUT_PRICE) for cost in resets)
    refused_ids = {o.request_id for o in work.outcomes if o.code == "budget_exceeded"}
    assert not refused_ids & set(ledger)
    assert len(refused_ids) == refused


async def test_naive_check_then_charge_is_caught_overspending(
    upstream: ServerProcess, workdir: Path, fresh_postgres: dict[str, str], kv_url: str
) -> None:
    config = gateway_config(upstream, fresh_postgres, kv_url)
    servers = start_replicas(workdir, config, naive=True)
    try:
        work = await run_budget_workload(servers, kv_url, seed=4)
    finally:
        exits = [server.stop() for server in servers]
    assert exits == [0, 0, 0]

    assert work.spent > BUDGET
    assert any(f.startswith(f"spent {work.spent} > budget") for f in work.failures)
    assert any("samples over the budget" in f for f in work.failures), work.failures
