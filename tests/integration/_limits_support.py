"""Helpers of the multi-process limits tests: several gateways sharing one PostgreSQL schema and
one Redis database, a fake upstream with priced models that fail on purpose, a monitor that
samples the budget counters in Redis, and the spend ledger as the servers wrote it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import httpx
import redis
from multidict import CIMultiDictProxy

from agentdeck.kv import MemoryKV
from agentdeck.limits.service import Budget, BudgetLedger, Scope
from tests.integration._support import (
    AGENTDECK,
    LIVE,
    ServerProcess,
    clean_env,
    free_port,
    write_config,
)

LIMITS_REDIS_DB = 5  # a database of its own, flushed before and after each test
NAIVE_LAUNCHER = Path(__file__).with_name("_naive_budget_server.py")
REPLY = (
    "The quick brown fox jumps over the lazy dog while the budget ledger reserves the worst "
    "case and settles the actual cost of every call exactly once."
)  # 40 tokens
# Fake models of the upstream: a normal one, one whose streams are reset, one that answers 500.
FAKE_MODELS: dict[str, dict[str, Any]] = {
    "quick": {"reply": "ok"},
    "priced": {"reply": REPLY, "chunks": 4, "latency_ms": 150, "chunk_delay_ms": 30},
    "resets": {"reply": REPLY, "chunks": 4, "latency_ms": 150, "reset_after_chunks": 2},
    "broken": {"fail_status": 500, "fail_message": "upstream exploded", "latency_ms": 100},
}
INPUT_PRICE, OUTPUT_PRICE = "1", "100"  # USD per 1M tokens: 1 and 100 micro-dollars per token
ALIASES = {"quick": "quick", "ok": "priced", "reset": "resets", "down": "broken"}


def limits_redis_url(base_url: str) -> str:
    """`base_url` (AGENTDECK_TEST_REDIS_URL) pointing at the limits tests' own database."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{LIMITS_REDIS_DB}"))


def flush_redis(url: str) -> None:
    """Empty the Redis database `url` names."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def gateway_config(upstream: ServerProcess, db: dict[str, str], kv_url: str) -> dict[str, Any]:
    """A gateway on the shared store and kv; every alias on the fake upstream, no retries, no
    breaker tripping (the failures are the point), identity changes seen within 0.2 s."""
    models = {
        alias: {
            "deployments": [
                {
                    "provider": "openai",
                    "model": model,
                    "base_url": f"{upstream.url}/v1",
                    "input_price": INPUT_PRICE,
                    "output_price": OUTPUT_PRICE,
                }
            ],
            "retries": {"attempts": 1},
        }
        for alias, model in ALIASES.items()
    }
    return {
        "log_level": "warning",
        "database": {"url": db["url"], "schema_name": db["schema_name"]},
        "kv": {"url": kv_url, "max_connections": 128},
        "identity": {"revocation_poll_s": 0.2},
        "limits": {"spend_flush_interval_s": 0.2},
        "gateway": {"breaker": {"consecutive_failures": 100_000, "min_calls": 100_000}},
        "server": {"drain_timeout_s": 10},
        "models": models,
    }


def spawn_gateway(
    workdir: Path, config: dict[str, Any], name: str, naive: bool = False
) -> ServerProcess:
    """`agentdeck serve` (or the naive-budget launcher) with `config`; not yet waited for."""
    path = write_config(workdir / f"{name}.yaml", config)
    command = [sys.executable, str(NAIVE_LAUNCHER)] if naive else AGENTDECK
    port = free_port()
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("wb")
    popen = subprocess.Popen(
        [*command, "serve", "--config", str(path), "--port", str(port)],
        cwd=workdir,
        env=clean_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    proc = ServerProcess(name, popen, port, log_path, "/readyz", log_file)
    LIVE.append(proc)
    return proc


def start_replicas(
    workdir: Path, config: dict[str, Any], count: int = 3, naive: bool = False
) -> list[ServerProcess]:
    """`count` gateways on the same config: the first migrates the schema, the rest then start
    together."""
    first = spawn_gateway(workdir, config, "replica-0", naive)
    first.wait_ready(40)
    rest = [spawn_gateway(workdir, config, f"replica-{n}", naive) for n in range(1, count)]
    for proc in rest:
        proc.wait_ready(40)
    return [first, *rest]


def set_limit(base_url: str, **rule: Any) -> str:
    """PUT one limit through the admin API of a (development-mode) gateway; its tenant id."""
    tenant_id: str = httpx.get(base_url + "/api/v1/me", timeout=10).json()["tenant_id"]
    rule.setdefault("scope_kind", "tenant")
    rule.setdefault("scope_id", tenant_id)
    response = httpx.put(base_url + "/api/v1/limits", json=rule, timeout=10)
    assert response.status_code == 200, response.text
    # Replicas read the development caller's limits again at their next identity poll (0.2 s).
    time.sleep(1.0)
    return tenant_id


def client_session() -> aiohttp.ClientSession:
    """An aiohttp session without a connection limit: every request of a burst at once."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    )


@dataclass
class Reply:
    """A whole JSON answer."""

    status: int
    headers: CIMultiDictProxy[str]
    json: Any


async def post_json(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Reply:
    """POST `body` and read the JSON answer."""
    async with http.post(url, json=body) as response:
        return Reply(response.status, response.headers, await response.json())


def budget_keys(tenant_id: str) -> list[str]:
    """The Redis keys of a tenant's total budget now (kv prefix included): spent, then what is
    reserved in the current and the previous hold period (the servers' default hold)."""
    ledger, now = BudgetLedger(MemoryKV()), time.time()
    budget = Budget(Scope("tenant", tenant_id), 1, "total")
    keys = [ledger.spent_key(budget, now), *ledger.reserved_keys(budget, now)]
    return [f"agentdeck:{key}" for key in keys]


@dataclass
class BudgetMonitor:
    """Samples spent + reserved from Redis in a thread of its own, as often as it can."""

    url: str
    tenant_id: str
    limit: int
    samples: int = 0
    peak: int = 0
    violations: list[tuple[int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def read(self) -> tuple[int, int]:
        """(spent, reserved) right now, read in one command."""
        client = redis.Redis.from_url(self.url)
        try:
            return self._read(client)
        finally:
            client.close()

    def _read(self, client: redis.Redis) -> tuple[int, int]:
        spent, *reserved = client.mget(budget_keys(self.tenant_id))
        return int(spent or 0), sum(int(held or 0) for held in reserved)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            while not self._stop.is_set():
                spent, reserved = self._read(client)
                self.samples += 1
                self.peak = max(self.peak, spent + reserved)
                if spent + reserved > self.limit:
                    self.violations.append((spent, reserved))
                time.sleep(0.001)
        finally:
            client.close()

    def __enter__(self) -> BudgetMonitor:
        self._thread = threading.Thread(target=self._run, name="budget-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


async def spend_rows(db: dict[str, str], tenant_id: str) -> dict[str, int]:
    """request id -> cost in micro-dollars of every spend-ledger row of `tenant_id`."""
    conn = await asyncpg.connect(db["url"])
    try:
        rows = await conn.fetch(
            f'SELECT request_id, cost_micros FROM "{db["schema_name"]}".spend_ledger '
            "WHERE tenant_id = $1",
            tenant_id,
        )
    finally:
        await conn.close()
    found: dict[str, int] = {}
    for row in rows:
        assert row["request_id"] not in found, f"two ledger rows for {row['request_id']}"
        found[row["request_id"]] = row["cost_micros"]
    return found
