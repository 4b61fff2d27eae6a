"""Helpers over an in-process app: call the admin API asserting statuses, make principals
with roles and keys, give a second tenant its owner, and wait for queued audit events."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any

import httpx

from agentdeck.api.deps import ApiServices
from agentdeck.identity.bootstrap import initialize
from agentdeck.identity.changes import Changes
from agentdeck.identity.keys import new_key
from agentdeck.settings_identity import BootstrapSettings

OWNER_KEY = new_key("test")
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
ALIASES = ("fake-a", "fake-b", "other")
MODELS = {
    alias: {"deployments": [{"provider": "fake", "model": "fake", "id": f"{alias}/one"}]}
    for alias in ALIASES
}
MSG = [{"role": "user", "content": "hi"}]


def bearer(key: str) -> dict[str, str]:
    """The `Authorization` header carrying `key`."""
    return {"authorization": f"Bearer {key}"}


@dataclass(frozen=True, slots=True)
class Member:
    """A principal made through the API, with one key."""

    principal_id: str
    key_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this member."""
        return bearer(self.key)


@dataclass(frozen=True, slots=True)
class TenantOwner:
    """A tenant made by the platform owner, and its first owner with a key."""

    tenant_id: str
    slug: str
    project_id: str
    principal_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this tenant's owner."""
        return bearer(self.key)


@dataclass(slots=True)
class Deck:
    """An app's client, its admin API services, and the platform owner's headers."""

    client: httpx.AsyncClient
    services: ApiServices
    owner: dict[str, str]

    async def api(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        json: Any = None,
        expect: int = 200,
    ) -> Any:
        """Call `/api/v1{path}`, assert the status, return the JSON body (None when empty)."""
        response = await self.client.request(
            method, f"/api/v1{path}", headers=self.owner if headers is None else headers, json=json
        )
        assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else None

    async def member(
        self,
        name: str,
        role: str | None,
        headers: dict[str, str] | None = None,
        bind_in: str | None = None,
        **key_fields: Any,
    ) -> Member:
        """A new user bound to `role` (tenant-wide, or in project `bind_in`) with one key."""
        user = await self.api("POST", "/users", headers, {"name": name}, expect=201)
        if role is not None:
            binding = {"principal_id": user["id"], "role": role, "project_id": bind_in}
            await self.api("POST", "/role-bindings", headers, binding, expect=201)
        made = await self.api(
            "POST", "/keys", headers, {"principal_id": user["id"], **key_fields}, expect=201
        )
        return Member(user["id"], made["id"], made["key"])

    async def chat(self, model: str, headers: dict[str, str]) -> httpx.Response:
        """A chat completion of `model`."""
        return await self.client.post(
            "/v1/chat/completions", json={"model": model, "messages": MSG}, headers=headers
        )

    async def tenant(self, slug: str, owner: str) -> TenantOwner:
        """A tenant created by the platform owner through the API, then given its owner (with
        a key) by `agentdeck init`'s code against this app's store: the API acts only within
        the caller's tenant, so it cannot seat another tenant's owner."""
        made = await self.api("POST", "/tenants", json={"slug": slug, "name": slug}, expect=201)
        changes = Changes(self.services.engine, self.services.authenticator.changed)
        boot = BootstrapSettings(tenant=slug, project="main", owner=owner)
        found = await initialize(changes, boot, "test")
        assert found.tenant_id == made["id"]
        assert found.key is not None
        return TenantOwner(made["id"], slug, found.project_id, found.principal_id, found.key)

    async def audit_events(
        self, headers: dict[str, str] | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """Every audit event of the caller's tenant (optionally of one action), oldest first."""
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            params: dict[str, Any] = {"after": after, "limit": 1000}
            if action is not None:
                params["action"] = action
            response = await self.client.get(
                "/api/v1/audit", params=params, headers=self.owner if headers is None else headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["events"])
            if page["next"] is None:
                return found
            after = page["next"]

    async def wait_for_event(
        self, headers: dict[str, str], action: str, match: dict[str, Any], within_s: float = 5.0
    ) -> dict[str, Any]:
        """The first `action` event whose fields include `match`, polled for (denials reach
        the log through a background queue); fails after `within_s` seconds."""
        deadline = time.monotonic() + within_s
        while True:
            for event in await self.audit_events(headers, action):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            assert time.monotonic() < deadline, f"no {action} event with {match}"
            await asyncio.sleep(0.05)

    async def wait_for_trace(
        self, headers: dict[str, str], trace_id: str, spans: int = 1, within_s: float = 5.0
    ) -> dict[str, Any]:
        """The trace once at least `spans` of its spans are stored (the recorder writes in
        the background); fails after `within_s` seconds."""
        deadline = time.monotonic() + within_s
        while True:
            response = await self.client.get(f"/api/v1/traces/{trace_id}", headers=headers)
            if response.status_code == 200 and response.json()["span_count"] >= spans:
                found: dict[str, Any] = response.json()
                return found
            assert response.status_code in (200, 404), response.text
            assert time.monotonic() < deadline, f"trace {trace_id} not stored"
            await asyncio.sleep(0.05)
