"""The agentdeck rows with identity on: every request carries an owner key, is counted against a
rate limit and reserves and settles a budget, with the in-process kv or with Redis.

The server installs a pre-generated owner key at its first start (`bootstrap_on_start`); the
harness then sets, through the admin API, a rate limit on that key and a monthly budget on its
tenant, both far above what a run can reach, so nothing is refused and the whole path runs on
every request. Before the load, the limit is checked to refuse once it is reached; after it,
the budget must have settled every request and hold no reservation. A failed check is kept in
`fault` on the row and makes its target a MISS.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from typing import Any

KEY_ENV = "BENCH_OWNER_KEY"  # the env variable the server reads the owner key from
RATE_PER_MINUTE = 100_000_000
BUDGET_MICROS = 10**15  # a billion dollars a month
CHAT_BODY = '{"model":"%s","messages":[{"role":"user","content":"hello benchmark"}]}'


class RowSkippedError(Exception):
    """A limits row cannot be measured (Redis unreachable); the message says why."""


class CheckFailedError(Exception):
    """The server did not enforce or account as configured; the message is the symptom."""


def new_owner_key() -> str:
    """A well-formed agentdeck key, for the server to install as its owner's key."""
    from agentdeck.identity.keys import new_key

    return new_key("test")


def config_lines(redis_url: str | None) -> str:
    """The YAML that turns identity on, bootstraps the owner key and picks the kv backend."""
    lines = (
        "identity: {enabled: true, bootstrap_on_start: true, "
        f"bootstrap: {{owner_key_env: {KEY_ENV}}}}}\n"
    )
    if redis_url:
        lines += f"kv: {{url: '{redis_url}'}}\n"
    return lines


def environment(key: str) -> dict[str, str]:
    """The server's environment: ours plus the owner key."""
    return {**os.environ, KEY_ENV: key}


def flush_redis(url: str) -> None:
    """Empty the Redis database the row uses, so no counters of an earlier run remain."""
    try:
        import redis
    except ImportError as exc:
        raise RowSkippedError(f"the redis client is not installed: {exc}") from exc
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()
    except redis.RedisError as exc:
        raise RowSkippedError(f"Redis at {url}: {exc}") from exc


def _call(
    port: int, method: str, path: str, key: str, body: str | None = None
) -> tuple[int, Any, http.client.HTTPResponse]:
    """One request with the key; (status, parsed JSON body or None, response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = raw.decode(errors="replace")[:200]
    return response.status, data, response


def _set_limit(
    port: int, key: str, scope_kind: str, scope_id: str, metric: str, amount: int, period: str
) -> None:
    """Create or replace one rule through the admin API."""
    body = json.dumps(
        {
            "scope_kind": scope_kind,
            "scope_id": scope_id,
            "metric": metric,
            "amount": amount,
            "period": period,
        }
    )
    status, data, _ = _call(port, "PUT", "/api/v1/limits", key, body)
    if status != 200:
        raise CheckFailedError(f"PUT /api/v1/limits ({scope_kind} {metric}) -> {status}: {data}")


def _chat_until(port: int, key: str, model: str, wanted: int, within_s: float = 5.0) -> Any:
    """Send chat requests until one answers `wanted`; the last response."""
    deadline = time.monotonic() + within_s
    seen = []
    while True:
        status, data, response = _call(port, "POST", "/v1/chat/completions", key, CHAT_BODY % model)
        if status == wanted:
            return response
        seen.append(status)
        if time.monotonic() > deadline:
            raise CheckFailedError(
                f"expected {wanted} within {within_s:.0f}s, got statuses {seen[-5:]}: {data}"
            )
        time.sleep(0.05)


def install_limits(port: int, key: str, model: str) -> tuple[str, int]:
    """Check that a key limit refuses once reached, then set the high limit and the budget.
    Returns (tenant id, cost in micro-dollars of one bench request)."""
    status, me, _ = _call(port, "GET", "/api/v1/me", key)
    if status != 200:
        raise CheckFailedError(f"GET /api/v1/me with the owner key -> {status}: {me}")
    key_id, tenant_id = me["key_id"], me["tenant_id"]
    # One request a minute: the second of this minute must be refused.
    _set_limit(port, key, "key", key_id, "requests", 1, "minute")
    refused = _chat_until(port, key, model, 429)
    if refused.getheader("retry-after") is None:
        raise CheckFailedError("a 429 from the key's rate limit carried no retry-after")
    _set_limit(port, key, "key", key_id, "requests", RATE_PER_MINUTE, "minute")
    _set_limit(port, key, "tenant", tenant_id, "cost", BUDGET_MICROS, "month")
    answered = _chat_until(port, key, model, 200)
    cost = int(answered.getheader("x-agentdeck-cost-micros") or 0)
    if cost <= 0:
        raise CheckFailedError("a priced request answered x-agentdeck-cost-micros 0 or none")
    return tenant_id, cost


def budget_usage(port: int, key: str, tenant_id: str) -> tuple[int, int]:
    """(spent, reserved) micro-dollars of the tenant's budget."""
    status, rows, _ = _call(port, "GET", "/api/v1/budgets", key)
    if status != 200:
        raise CheckFailedError(f"GET /api/v1/budgets -> {status}: {rows}")
    for row in rows:
        if row["scope_kind"] == "tenant" and row["scope_id"] == tenant_id:
            return int(row["spent_micros"]), int(row["reserved_micros"])
    raise CheckFailedError(f"the tenant budget is missing from GET /api/v1/budgets: {rows}")


def check_budget(port: int, key: str, tenant_id: str, cost: int, measured: int) -> str:
    """After the load: every request wrk counted must have been settled, and no reservation
    may be left over (wrk drops its last in-flight requests, so those must be released)."""
    time.sleep(1.0)  # settlements of requests cut off at the end of the last run
    spent, reserved = budget_usage(port, key, tenant_id)
    settled = spent // cost
    if reserved:
        raise CheckFailedError(f"{reserved} micro-dollars still reserved after the load")
    if settled < measured:
        raise CheckFailedError(
            f"budget settled {settled:,} requests' cost, wrk counted {measured:,} answered"
        )
    return (
        f"budget settled {spent:,} micro-dollars = {settled:,} requests at {cost} each "
        f"(wrk counted {measured:,} in measured runs, the rest are warm-ups and checks), "
        "0 left reserved"
    )
