"""Rate limits: exact under concurrency, across several clients of one Redis (replicas)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentdeck.errors import RateLimitedError
from agentdeck.kv import KV
from agentdeck.limits.service import RateLimit, RateLimiter, Scope

KEY, TENANT = Scope("key", "k1"), Scope("tenant", "t1")


class Clock:
    """A settable clock, so windows are tested without waiting a minute."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_admits_up_to_the_limit_then_names_it(kv: KV) -> None:
    clock = Clock(60 * 16_667 + 20.0)  # 20 s into a minute window
    limiter = RateLimiter(kv, clock)
    limits = [RateLimit(KEY, 3), RateLimit(TENANT, 10)]
    for _ in range(3):
        await limiter.admit(limits)
    with pytest.raises(RateLimitedError) as caught:
        await limiter.admit(limits)
    error = caught.value
    assert error.status == 429
    assert error.wire_code == "rate_limit_exceeded"
    assert "3 requests per minute for key 'k1'" in error.message
    assert error.headers == {
        "retry-after": "40",
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "40s",
    }
    clock.now += 40  # the next window
    await limiter.admit(limits)


async def test_a_refusal_counts_nothing_anywhere(kv: KV) -> None:
    limiter = RateLimiter(kv, Clock(600.0))
    tight, loose = RateLimit(TENANT, 2), RateLimit(KEY, 100)
    await limiter.admit([loose, tight])
    await limiter.admit([loose, tight])
    with pytest.raises(RateLimitedError):
        await limiter.admit([loose, tight])
    # the refused call did not count against the loose limit either: 98 more fit exactly
    for _ in range(98):
        await limiter.admit([loose])
    with pytest.raises(RateLimitedError):
        await limiter.admit([loose])


async def test_tokens_per_minute_count_amounts(kv: KV) -> None:
    limiter = RateLimiter(kv, Clock(60.0))
    tpm = [RateLimit(KEY, 1000, "tokens")]
    await limiter.admit(tpm, 600)
    await limiter.admit(tpm, 400)
    with pytest.raises(RateLimitedError) as caught:
        await limiter.admit(tpm, 1)
    assert caught.value.headers["x-ratelimit-remaining-tokens"] == "0"


async def _race(limiters: list[RateLimiter], attempts: int, limit: int) -> int:
    admitted = 0

    async def attempt(n: int) -> None:
        nonlocal admitted
        try:
            await limiters[n % len(limiters)].admit([RateLimit(Scope("key", "race"), limit)])
            admitted += 1
        except RateLimitedError:
            pass

    await asyncio.gather(*(attempt(n) for n in range(attempts)))
    return admitted


async def test_exact_under_concurrency_in_one_process(kv: KV) -> None:
    assert await _race([RateLimiter(kv, Clock(120.0))], 1000, 100) == 100


@pytest.mark.redis
async def test_exact_across_replicas_sharing_redis(redis_kv_factory: Any) -> None:
    replicas = [RateLimiter(await redis_kv_factory(), Clock(180.0)) for _ in range(3)]
    assert await _race(replicas, 1000, 100) == 100
