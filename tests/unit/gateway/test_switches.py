"""Kill switches through the admin API: effective at once, guarded by `gateway:manage`."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.identity.keys import new_key
from tests.conftest import owner_bootstrap

MSG = [{"role": "user", "content": "hi"}]
MODELS = {
    "main": {"deployments": [{"provider": "fake", "model": "fake", "id": "main/a"},
                             {"provider": "fake", "model": "fake", "id": "main/b"}]},
    "backup": {"deployments": [{"provider": "fake", "model": "fake", "id": "backup/a"}]},
    "guarded": {"deployments": [{"provider": "fake", "model": "fake", "id": "guarded/a"}],
                "fallbacks": {"any": ["backup"]}},
}  # fmt: skip
OWNER_KEY = new_key("test")
AUTH = {"authorization": f"Bearer {OWNER_KEY}"}


@pytest.fixture
async def admin_client(gateway_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TEST_OWNER_KEY", OWNER_KEY)
    return await gateway_client(models=MODELS, identity=owner_bootstrap("TEST_OWNER_KEY"))


async def _chat(client: Any, model: str) -> Any:
    return await client.post(
        "/v1/chat/completions", json={"model": model, "messages": MSG}, headers=AUTH
    )


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
        ("alias/main", {"off": True}, {}, 401, "missing API key"),
        ("alias/main", {"off": True}, {"authorization": "Bearer nope"}, 401, "malformed API key"),
        ("alias/nope", {"off": True}, AUTH, 404, "no alias named 'nope'"),
        ("tenant/main", {"off": True}, AUTH, 400, "kind must be"),
        ("alias/main", {"off": "yes"}, AUTH, 400, "off: Input should be a valid boolean"),
    ],
)
async def test_admin_api_refuses_bad_calls(
    admin_client: Any, path: str, body: Any, headers: dict[str, str], status: int, fragment: str
) -> None:
    response = await admin_client.put(f"/api/v1/gateway/switches/{path}", json=body,
                                      headers=headers)  # fmt: skip
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


async def test_a_viewer_may_not_switch(admin_client: Any) -> None:
    user = await admin_client.post("/api/v1/users", json={"name": "vera"}, headers=AUTH)
    await admin_client.post(
        "/api/v1/role-bindings",
        headers=AUTH,
        json={"principal_id": user.json()["id"], "role": "viewer"},
    )
    made = await admin_client.post(
        "/api/v1/keys", headers=AUTH, json={"principal_id": user.json()["id"]}
    )
    viewer = {"authorization": f"Bearer {made.json()['key']}"}
    response = await admin_client.get("/api/v1/gateway/switches", headers=viewer)
    assert response.status_code == 403
    assert "lacks permission 'gateway:manage'" in response.json()["error"]["message"]
    listed = await admin_client.get("/api/v1/gateway/switches", headers=AUTH)
    assert listed.status_code == 200
