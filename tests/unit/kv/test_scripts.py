"""The atomic scripts in kv/scripts.py: same figures on both backends, exact under concurrency."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from agentdeck.kv import KV, MemoryKV, Script
from agentdeck.kv.base import ScriptArg
from agentdeck.kv.scripts import ADD_WITHIN_LIMIT, INCR_WITH_TTL

from .conftest import RedisFactory

TTL_MS = 200
PAST_TTL_S = 0.35


@dataclass(frozen=True)
class Run:
    script: Script
    args: Sequence[ScriptArg]
    expected: Any
    key: str = "c"


@dataclass(frozen=True)
class Set:
    value: bytes
    key: str = "c"


@dataclass(frozen=True)
class Get:
    expected: bytes | None
    key: str = "c"


@dataclass(frozen=True)
class Sleep:
    seconds: float


def add(amount: ScriptArg, limit: ScriptArg, ttl_ms: ScriptArg, expected: list[int]) -> Run:
    return Run(ADD_WITHIN_LIMIT, [amount, limit, ttl_ms], expected)


def incr(amount: ScriptArg, ttl_ms: ScriptArg, expected: int) -> Run:
    return Run(INCR_WITH_TTL, [amount, ttl_ms], expected)


CASES: dict[str, list[Any]] = {
    "add up to exactly the limit, then one over": [
        add(3, 10, 0, [1, 3]),
        add(3, 10, 0, [1, 6]),
        add(3, 10, 0, [1, 9]),
        add(1, 10, 0, [1, 10]),
        add(1, 10, 0, [0, 10]),
        Get(b"10"),
    ],
    "over the limit in one step is refused and leaves the counter": [
        add(4, 10, 0, [1, 4]),
        add(7, 10, 0, [0, 4]),
        add(6, 10, 0, [1, 10]),
        Get(b"10"),
    ],
    "refused on a missing key does not create it": [
        add(11, 10, 0, [0, 0]),
        Get(None),
    ],
    "first call exactly at the limit is admitted": [
        add(10, 10, 0, [1, 10]),
        add(0, 10, 0, [1, 10]),
        add(1, 10, 0, [0, 10]),
    ],
    "negative amount releases capacity": [
        add(10, 10, 0, [1, 10]),
        add(-4, 10, 0, [1, 6]),
        add(4, 10, 0, [1, 10]),
        add(1, 10, 0, [0, 10]),
    ],
    "limit of zero refuses everything positive": [
        add(1, 0, 0, [0, 0]),
        Get(None),
    ],
    "string and bytes arguments read as integers": [
        add("2", b"5", "0", [1, 2]),
        add(b"3", "5", b"0", [1, 5]),
        add("1", "5", "0", [0, 5]),
    ],
    "add sets the ttl when it creates the key": [
        add(1, 10, TTL_MS, [1, 1]),
        Sleep(PAST_TTL_S),
        Get(None),
        add(1, 10, TTL_MS, [1, 1]),
    ],
    "add keeps an existing ttl": [
        add(1, 10, TTL_MS, [1, 1]),
        Sleep(0.1),
        add(1, 10, 60_000, [1, 2]),
        Sleep(PAST_TTL_S - 0.1),
        Get(None),
    ],
    "add gives a ttl to an existing key that has none": [
        Set(b"5"),
        add(1, 10, TTL_MS, [1, 6]),
        Sleep(PAST_TTL_S),
        Get(None),
    ],
    "refused add does not touch the ttl": [
        Set(b"9"),
        add(5, 10, TTL_MS, [0, 9]),
        Sleep(PAST_TTL_S),
        Get(b"9"),
    ],
    "add with ttl 0 never expires": [
        add(1, 10, 0, [1, 1]),
        Sleep(PAST_TTL_S),
        Get(b"1"),
    ],
    "incr with ttl creates, keeps the ttl, then expires": [
        incr(5, TTL_MS, 5),
        incr(2, 0, 7),
        incr(-10, 60_000, -3),
        Get(b"-3"),
        Sleep(PAST_TTL_S),
        Get(None),
    ],
    "incr with ttl 0 never expires": [
        incr(3, 0, 3),
        Sleep(PAST_TTL_S),
        incr(1, TTL_MS, 4),
        Sleep(PAST_TTL_S),
        Get(b"4"),
    ],
    "keys are independent": [
        Run(ADD_WITHIN_LIMIT, [5, 5, 0], [1, 5], key="a"),
        Run(ADD_WITHIN_LIMIT, [1, 5, 0], [0, 5], key="a"),
        Run(ADD_WITHIN_LIMIT, [5, 5, 0], [1, 5], key="b"),
        Run(INCR_WITH_TTL, [2, 0], 2, key="c"),
        Get(b"5", key="a"),
        Get(b"5", key="b"),
    ],
}


async def play(kv: KV, steps: Sequence[Any]) -> list[Any]:
    """Run the steps, returning what each Run and Get observed."""
    seen: list[Any] = []
    for step in steps:
        if isinstance(step, Run):
            seen.append(await kv.run(step.script, [step.key], step.args))
        elif isinstance(step, Get):
            seen.append(await kv.get(step.key))
        elif isinstance(step, Set):
            await kv.set(step.key, step.value)
        else:
            await asyncio.sleep(step.seconds)
    return seen


def expected_of(steps: Sequence[Any]) -> list[Any]:
    return [step.expected for step in steps if isinstance(step, Run | Get)]


@pytest.mark.parametrize("steps", list(CASES.values()), ids=list(CASES))
async def test_script_case(kv: KV, steps: list[Any]) -> None:
    assert await play(kv, steps) == expected_of(steps)


@pytest.mark.redis
async def test_random_sequence_gives_identical_results_on_both_backends(
    redis_kv_factory: RedisFactory,
) -> None:
    rng = random.Random(20261121)
    calls: list[tuple[Script, str, list[ScriptArg]]] = []
    for _ in range(300):
        key = rng.choice(["x", "y", "z"])
        if rng.random() < 0.7:
            calls.append((ADD_WITHIN_LIMIT, key, [rng.randint(-3, 8), rng.randint(0, 40), 0]))
        else:
            calls.append((INCR_WITH_TTL, key, [rng.randint(-5, 5), rng.choice([0, 60_000])]))
    results: dict[str, list[Any]] = {}
    for name, kv in (("memory", MemoryKV()), ("redis", await redis_kv_factory())):
        results[name] = [await kv.run(script, [key], args) for script, key, args in calls]
        results[name].extend([await kv.get(key) for key in ("x", "y", "z")])
    assert results["memory"] == results["redis"]
    admitted = [
        r for (s, _, _), r in zip(calls, results["memory"], strict=False) if s is ADD_WITHIN_LIMIT
    ]
    assert {result[0] for result in admitted} == {0, 1}  # the sequence exercises both outcomes


async def _hammer(clients: Sequence[KV], tasks: int, limit: int) -> list[Any]:
    async def one(index: int) -> Any:
        kv = clients[index % len(clients)]
        return await kv.run(ADD_WITHIN_LIMIT, ["budget"], [1, limit, 60_000])

    return await asyncio.gather(*(one(index) for index in range(tasks)))


async def test_concurrent_adds_admit_exactly_the_limit_in_memory() -> None:
    kv = MemoryKV()
    results = await _hammer([kv], 500, 100)
    assert sum(result[0] for result in results) == 100
    assert sorted(result[1] for result in results if result[0] == 1) == list(range(1, 101))
    assert all(result == [0, 100] for result in results if result[0] == 0)
    assert await kv.get("budget") == b"100"


@pytest.mark.redis
async def test_concurrent_adds_across_replicas_admit_exactly_the_limit_on_redis(
    redis_kv_factory: RedisFactory,
) -> None:
    replicas = [await redis_kv_factory() for _ in range(5)]
    results = await _hammer(replicas, 500, 100)
    assert sum(result[0] for result in results) == 100
    assert sorted(result[1] for result in results if result[0] == 1) == list(range(1, 101))
    assert all(result == [0, 100] for result in results if result[0] == 0)
    for replica in replicas:
        assert await replica.get("budget") == b"100"


@pytest.mark.redis
async def test_script_is_reloaded_after_script_flush(
    redis_url: str, redis_kv_factory: RedisFactory
) -> None:
    from redis.asyncio import Redis

    kv = await redis_kv_factory()
    assert await kv.run(ADD_WITHIN_LIMIT, ["k"], [2, 10, 0]) == [1, 2]
    assert await kv.incr("n") == 1
    raw = Redis.from_url(redis_url)
    try:
        sha = await raw.script_load(ADD_WITHIN_LIMIT.lua)
        assert await raw.script_exists(sha) == [True]
        await raw.script_flush()
        assert await raw.script_exists(sha) == [False]
        assert await kv.run(ADD_WITHIN_LIMIT, ["k"], [3, 10, 0]) == [1, 5]
        assert await kv.incr("n") == 2
        assert await raw.script_exists(sha) == [True]
    finally:
        await raw.aclose()
