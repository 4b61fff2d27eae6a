"""A deployment that names a stored credential: sent upstream once stored, rotated without a
restart, never shown by the API."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from agentdeck.app import create_app
from agentdeck.identity.keys import new_key
from agentdeck.settings import Settings
from tests.conftest import owner_bootstrap
from tests.integration._http_stub import BackgroundServer, JSONHandler

OWNER = new_key("test")
AUTH = {"authorization": f"Bearer {OWNER}"}
SEEN: list[str] = []


class _Upstream(JSONHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server names it
        SEEN.append(self.headers.get("authorization", ""))
        self.read_json()
        self.send_json(
            200,
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )


@pytest.fixture
def upstream() -> Iterator[BackgroundServer]:
    SEEN.clear()
    server = BackgroundServer(_Upstream).start()
    yield server
    server.stop()


@pytest.fixture
async def client(
    upstream: BackgroundServer,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TEST_OWNER_KEY", OWNER)
    monkeypatch.setenv("TEST_MASTER", base64.b64encode(os.urandom(32)).decode())
    identity = {
        **owner_bootstrap("TEST_OWNER_KEY"),
        "master_key_env": "TEST_MASTER",
        "revocation_poll_s": 0.2,
    }
    deployment = {
        "id": "up/a",
        "provider": "openai",
        "model": "m",
        "credential": "upstream",
        "base_url": f"http://127.0.0.1:{upstream.port}/v1",
    }
    app = create_app(make_settings(identity=identity, models={"up": {"deployments": [deployment]}}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def _chat(client: httpx.AsyncClient) -> httpx.Response:
    body = {"model": "up", "messages": [{"role": "user", "content": "hi"}]}
    return await client.post("/v1/chat/completions", json=body, headers=AUTH)


async def _until_sent(client: httpx.AsyncClient, expected: str) -> None:
    for _ in range(50):
        response = await _chat(client)
        if response.status_code == 200 and SEEN and SEEN[-1] == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"upstream never saw {expected!r}; saw {SEEN[-3:]}")


async def test_stored_credential_is_sent_and_rotates_without_restart(client: Any) -> None:
    missing = await _chat(client)
    assert missing.status_code == 500
    assert "credential 'upstream' is not stored" in missing.json()["error"]["message"]
    assert SEEN == []
    stored = await client.put(
        "/api/v1/credentials/upstream", json={"value": "sk-first"}, headers=AUTH
    )
    assert stored.json() == {"name": "upstream", "version": 1}
    await _until_sent(client, "Bearer sk-first")
    rotated = await client.put(
        "/api/v1/credentials/upstream", json={"value": "sk-second"}, headers=AUTH
    )
    assert rotated.json()["version"] == 2
    await _until_sent(client, "Bearer sk-second")
    listed = await client.get("/api/v1/credentials", headers=AUTH)
    assert [c["name"] for c in listed.json()] == ["upstream"]
    assert "sk-second" not in listed.text
    audit = await client.get("/api/v1/audit", params={"action": "credential.put"}, headers=AUTH)
    assert len(audit.json()["events"]) == 2
    assert "sk-" not in audit.text
