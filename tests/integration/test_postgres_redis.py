"""The scale-out configuration: the real server on PostgreSQL and Redis."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import httpx
import openai
import pytest

from agentdeck.db.migrate import head_revision
from agentdeck.gateway.tokens import count_messages, count_text
from tests.integration._stack import Stack
from tests.integration._support import deployment, expected_cost_micros, start_gateway

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_gateway_on_postgres_and_redis_is_ready_and_serves(
    stack: Stack, workdir: Path, fresh_postgres: dict[str, str], redis_url: str
) -> None:
    gateway = start_gateway(
        workdir,
        {
            "database": {
                "url": fresh_postgres["url"],
                "schema_name": fresh_postgres["schema_name"],
            },
            "kv": {"url": redis_url},
            "models": {"chat": deployment(stack.upstream, "fake", "1", "4")},
        },
        name="pg-gateway",
    )
    try:
        gateway.wait_ready()
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            ready = (await http.get("/readyz")).json()
        messages = [{"role": "user", "content": "Stored in Postgres, counted in Redis."}]
        async with openai.AsyncOpenAI(
            base_url=gateway.url + "/v1", api_key="k", max_retries=0
        ) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="chat", messages=messages
            )
    finally:
        returncode = gateway.stop()

    assert {k: ready[k] for k in ("status", "store", "kv", "kv_backend", "schema_revision")} == {
        "status": "ready",
        "store": "ok",
        "kv": "ok",
        "kv_backend": "redis",
        "schema_revision": head_revision(),
    }
    assert re.match(r"^[0-9a-f]{32}$", ready["installation_id"])
    completion = raw.parse()
    text = "Stored in Postgres, counted in Redis."
    assert completion.choices[0].message.content == text
    assert raw.headers["x-agentdeck-deployment"] == "chat/0"
    cost = expected_cost_micros(count_messages(messages), count_text(text), "1", "4")
    assert int(raw.headers["x-agentdeck-cost-micros"]) == cost
    assert returncode == 0, gateway.log_text()

    # The migration ran in the test's own schema, and the installation id was stored there.
    conn = await asyncpg.connect(fresh_postgres["url"])
    try:
        schema = fresh_postgres["schema_name"]
        tables = {
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
        revision = await conn.fetchval(f'SELECT version_num FROM "{schema}".alembic_version')
        installation_id = await conn.fetchval(
            f'SELECT value FROM "{schema}".agentdeck_meta WHERE key = $1', "installation_id"
        )
    finally:
        await conn.close()
    assert {"alembic_version", "agentdeck_meta"} <= tables
    assert revision == head_revision()
    assert installation_id == ready["installation_id"]
