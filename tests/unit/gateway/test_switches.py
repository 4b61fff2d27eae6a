"""Kill switches through the admin API: effective at once, guarded by the admin token."""

from __future__ import annotations

from typing import Any

import pytest

MSG = [{"role": "user", "content": "hi"}]
MODELS = {
    "main": {"deployments": [{"provider": "fake", "model": "fake", "id": "main/a"},
                             {"provider": "fake", "model": "fake", "id": "main/b"}]},
    "backup": {"deployments": [{"provider": "fake", "model": "fake", "id": "backup/a"}]},
    "guarded": {"deployments": [{"provider": "fake", "model": "fake", "id": "guarded/a"}],
                "fallbacks": {"any": ["backup"]}},
}  # fmt: skip
AUTH = {"authorization": "Bearer s3cret-admin"}


@pytest.fixture
async def admin_client(gateway_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "s3cret-admin")
    return await gateway_client(models=MODELS, server={"admin_token_env": "TEST_ADMIN_TOKEN"})


async def _chat(client: Any, model: str) -> Any:
    return await client.post("/v1/chat/completions", json={"model": model, "messages": MSG})


async def test_deployment_switch_routes_around_it_at_once(admin_client: Any) -> None:
    assert (await _chat(admin_client, "main")).headers["x-agentdeck-deployment"] == "main/a"
    off = await admin_client.put(
        "/api/v1/gateway/switches/deployment/main/a", json={"off": True}, headers=AUTH
    )
    assert off.json() == {"kind": "deployment", "name": "main/a", "off": True}
    for _ in range(3):
        assert (await _chat(admin_client, "main")).headers["x-agentdeck-deployment"] == "main/b"
    listed = await admin_client.get("/api/v1/gateway/switches", headers=AUTH)
    assert listed.json() == {"off": [{"kind": "deployment", "name": "main/a"}]}
    await admin_client.put(
        "/api/v1/gateway/switches/deployment/main/a", json={"off": False}, headers=AUTH
    )
    assert (await _chat(admin_client, "main")).headers["x-agentdeck-deployment"] == "main/a"


async def test_alias_switch_refuses_or_falls_back(admin_client: Any) -> None:
    for alias in ("main", "guarded"):
        response = await admin_client.put(
            f"/api/v1/gateway/switches/alias/{alias}", json={"off": True}, headers=AUTH
        )
        assert response.status_code == 200
    refused = await _chat(admin_client, "main")
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "model_switched_off"
    rescued = await _chat(admin_client, "guarded")
    assert rescued.status_code == 200
    assert rescued.headers["x-agentdeck-fallback-path"] == "guarded>backup"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "fragment"),
    [
        ("alias/main", {"off": True}, {}, 401, "missing or wrong bearer token"),
        ("alias/main", {"off": True}, {"authorization": "Bearer nope"}, 401, "wrong"),
        ("alias/nope", {"off": True}, AUTH, 404, "no alias named 'nope'"),
        ("tenant/main", {"off": True}, AUTH, 400, "kind must be"),
        ("alias/main", {"off": "yes"}, AUTH, 400, "'off' must be true or false"),
    ],
)
async def test_admin_api_refuses_bad_calls(
    admin_client: Any, path: str, body: Any, headers: dict[str, str], status: int, fragment: str
) -> None:
    response = await admin_client.put(f"/api/v1/gateway/switches/{path}", json=body,
                                      headers=headers)  # fmt: skip
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


async def test_admin_api_is_off_without_a_token(gateway_client: Any) -> None:
    client = await gateway_client(models=MODELS)
    response = await client.get("/api/v1/gateway/switches")
    assert response.status_code == 403
    assert "set server.admin_token_env" in response.json()["error"]["message"]
