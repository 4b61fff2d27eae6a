"""The audit log through the API: every admin change appends its event (with actor, resource
and request id) in the caller's tenant, refused calls append `api.denied` / `model.denied` /
`auth.denied` through the background queue, and the chain verifies (and shows tampering)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from agentdeck.identity.tables import audit_events
from agentdeck.tools.approvals import Binding
from tests.unit.api._deck import Deck, bearer
from tests.unit.api.test_tenant_isolation import openapi_routes

TEXT = {"type": "text", "template": "one", "message": "first"}
# Each admin change (method, OpenAPI path) and the actions it appends, in order.
CHANGES: dict[tuple[str, str], list[str]] = {
    ("POST", "/v1/tenants"): ["tenant.create"],
    ("POST", "/v1/projects"): ["project.create"],
    ("POST", "/v1/teams"): ["team.create"],
    ("POST", "/v1/users"): ["user.create"],
    ("POST", "/v1/service-accounts"): ["service.create"],
    ("PUT", "/v1/teams/{team_id}/members/{principal_id}"): ["team.member.add"],
    ("DELETE", "/v1/teams/{team_id}/members/{principal_id}"): ["team.member.remove"],
    ("PATCH", "/v1/principals/{principal_id}"): ["principal.disable"],
    ("POST", "/v1/roles"): ["role.create"],
    ("POST", "/v1/role-bindings"): ["role.bind"],
    ("DELETE", "/v1/role-bindings/{binding_id}"): ["role.unbind"],
    ("POST", "/v1/keys"): ["key.create"],
    ("POST", "/v1/keys/{key_id}/rotate"): ["key.create", "key.rotate"],
    ("DELETE", "/v1/keys/{key_id}"): ["key.revoke"],
    ("PUT", "/v1/limits"): ["limit.set"],
    ("DELETE", "/v1/limits/{limit_id}"): ["limit.delete"],
    ("PUT", "/v1/credentials/{name}"): ["credential.put"],
    ("DELETE", "/v1/credentials/{name}"): ["credential.delete"],
    ("PUT", "/v1/gateway/switches/{kind}/{name}"): ["gateway.switch"],
    ("POST", "/v1/alerts/channels"): ["alert-channel.create"],
    ("PATCH", "/v1/alerts/channels/{channel_id}"): ["alert-channel.update"],
    ("DELETE", "/v1/alerts/channels/{channel_id}"): ["alert-channel.delete"],
    ("POST", "/v1/alerts/rules"): ["alert-rule.create"],
    ("PUT", "/v1/alerts/rules/{rule_id}"): ["alert-rule.update"],
    ("DELETE", "/v1/alerts/rules/{rule_id}"): ["alert-rule.delete"],
    ("POST", "/v1/slos"): ["slo.create"],
    ("PUT", "/v1/slos/{slo_id}"): ["slo.update"],
    ("DELETE", "/v1/slos/{slo_id}"): ["slo.delete"],
    ("POST", "/v1/prompts/{name}/versions"): ["prompt.version.create"],
    ("POST", "/v1/prompts/{name}/versions/{number}/archive"): ["prompt.version.archive"],
    ("POST", "/v1/prompts/{name}/versions/{number}/unarchive"): ["prompt.version.unarchive"],
    ("PUT", "/v1/prompts/{name}/labels/{label}"): ["prompt.label.move"],
    ("POST", "/v1/prompts/{name}/labels/{label}/rollback"): ["prompt.label.rollback"],
    ("DELETE", "/v1/prompts/{name}/labels/{label}"): ["prompt.label.delete"],
    ("PUT", "/v1/tools/{name}"): ["tool.create"],
    ("DELETE", "/v1/tools/{name}"): ["tool.delete"],
    ("POST", "/v1/approvals/{approval_id}/approve"): ["approval.approve"],
    ("POST", "/v1/approvals/{approval_id}/deny"): ["approval.deny"],
}
# Calls that change nothing administrative. Feedback is trace data, recorded in its own
# table. A channel's test delivery sends one signed request and stores nothing (no event, no
# delivery row, no retry); test_alert_routes checks that it appends no audit event. Rendering
# a prompt reads it.
NOT_CHANGES = {
    ("POST", "/v1/feedback"),
    ("POST", "/v1/alerts/channels/{channel_id}/test"),
    ("POST", "/v1/prompts/{name}/render"),
    ("POST", "/v1/tools/{name}/call"),  # a call is a span; its approval's decision is audited
}


async def _made(deck: Deck, method: str, path: str, body: Any = None, expect: int = 201) -> Any:
    response = await deck.client.request(method, f"/api/v1{path}", headers=deck.owner, json=body)
    assert response.status_code == expect, (method, path, response.text)
    return response


async def test_every_admin_change_appends_its_event(deck: Deck) -> None:
    _, routes = await openapi_routes(deck)
    changing = {(m, p) for m, p in routes if m != "GET"} - NOT_CHANGES
    assert changing == set(CHANGES), "a new changing route: add it and its audit actions here"
    start = len(await deck.audit_events())
    done: list[tuple[tuple[str, str], Any, str]] = []  # (route, response, resource)

    async def change(key: tuple[str, str], path: str, body: Any, expect: int, resource: str) -> Any:
        response = await _made(deck, key[0], path, body, expect)
        done.append((key, response, resource))
        return response.json() if response.content else None

    tenant = await change(("POST", "/v1/tenants"), "/tenants", {"slug": "t2"}, 201, "tenant/")
    project = await change(("POST", "/v1/projects"), "/projects", {"slug": "p"}, 201, "project/")
    team = await change(
        ("POST", "/v1/teams"), "/teams", {"project_id": project["id"], "name": "t"}, 201, "team/"
    )
    user = await change(("POST", "/v1/users"), "/users", {"name": "u"}, 201, "principal/")
    await change(
        ("POST", "/v1/service-accounts"), "/service-accounts", {"name": "s"}, 201, "principal/"
    )
    member = f"/teams/{team['id']}/members/{user['id']}"
    await change(
        ("PUT", "/v1/teams/{team_id}/members/{principal_id}"),
        member,
        None,
        204,
        f"team/{team['id']}",
    )
    await change(
        ("DELETE", "/v1/teams/{team_id}/members/{principal_id}"),
        member,
        None,
        204,
        f"team/{team['id']}",
    )
    await change(
        ("PATCH", "/v1/principals/{principal_id}"),
        f"/principals/{user['id']}",
        {"disabled": True},
        200,
        f"principal/{user['id']}",
    )
    await change(
        ("POST", "/v1/roles"), "/roles", {"name": "r", "permissions": ["models:use"]}, 201, "role/r"
    )
    binding = await change(
        ("POST", "/v1/role-bindings"),
        "/role-bindings",
        {"principal_id": user["id"], "role": "r"},
        201,
        "principal/",
    )
    await change(
        ("DELETE", "/v1/role-bindings/{binding_id}"),
        f"/role-bindings/{binding['id']}",
        None,
        204,
        f"principal/{user['id']}",
    )
    key = await change(("POST", "/v1/keys"), "/keys", {"principal_id": user["id"]}, 201, "key/")
    rotated = await change(
        ("POST", "/v1/keys/{key_id}/rotate"),
        f"/keys/{key['id']}/rotate",
        {"overlap_s": 0},
        201,
        "key/",
    )
    await change(
        ("DELETE", "/v1/keys/{key_id}"), f"/keys/{rotated['id']}", None, 200, f"key/{rotated['id']}"
    )
    limit = await change(
        ("PUT", "/v1/limits"),
        "/limits",
        {"scope_kind": "user", "metric": "requests", "scope_id": user["id"], "amount": 5},
        200,
        f"limit/user/{user['id']}/requests",
    )
    await change(
        ("DELETE", "/v1/limits/{limit_id}"),
        f"/limits/{limit['id']}",
        None,
        204,
        f"limit/{limit['id']}",
    )
    await change(
        ("PUT", "/v1/credentials/{name}"), "/credentials/c", {"value": "v"}, 200, "credential/c"
    )
    await change(("DELETE", "/v1/credentials/{name}"), "/credentials/c", None, 204, "credential/c")
    await change(
        ("PUT", "/v1/gateway/switches/{kind}/{name}"),
        "/gateway/switches/alias/other",
        {"off": True},
        200,
        "alias/other",
    )
    await alert_changes(change)
    await prompt_changes(change)
    await tool_changes(deck, change)

    events = (await deck.audit_events())[start:]
    assert {key for key, _, _ in done} == set(CHANGES)
    expected = [action for key, _, _ in done for action in CHANGES[key]]
    assert [e["action"] for e in events] == expected
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_request.setdefault(event["request_id"], []).append(event)
    for key, response, resource in done:
        mine = by_request[response.headers["x-agentdeck-request-id"]]
        assert [e["action"] for e in mine] == CHANGES[key]
        assert mine[-1]["resource"].startswith(resource)
        assert all(e["actor"] == "user:owner" for e in mine)
    assert {e["tenant_id"] for e in events} == {(await deck.api("GET", "/me"))["tenant_id"]}
    assert [e["position"] for e in events] == list(range(start + 1, start + len(events) + 1))
    assert events[0]["resource"] == f"tenant/{tenant['id']}"
    verdict = await deck.api("GET", "/audit/verify")
    assert verdict == {
        "ok": True,
        "checked": start + len(events),
        "bad_position": None,
        "reason": "",
    }


async def alert_changes(change: Any) -> None:
    """Make every change of the alert and SLO routes through `change`."""
    hook = {"name": "h", "url": "http://127.0.0.1:9/hook"}
    channel = await change(
        ("POST", "/v1/alerts/channels"), "/alerts/channels", hook, 201, "alert-channel/"
    )
    at, hook_resource = f"/alerts/channels/{channel['id']}", f"alert-channel/{channel['id']}"
    await change(
        ("PATCH", "/v1/alerts/channels/{channel_id}"), at, {"name": "i"}, 200, hook_resource
    )
    rule = {"name": "r", "metric": "requests", "threshold": 1e9, "channels": [channel["id"]]}
    made = await change(("POST", "/v1/alerts/rules"), "/alerts/rules", rule, 201, "alert-rule/")
    path, resource = f"/alerts/rules/{made['id']}", f"alert-rule/{made['id']}"
    await change(("PUT", "/v1/alerts/rules/{rule_id}"), path, rule, 200, resource)
    await change(("DELETE", "/v1/alerts/rules/{rule_id}"), path, None, 204, resource)
    slo = {"name": "s", "objective": "availability", "target": 0.99}
    made = await change(("POST", "/v1/slos"), "/slos", slo, 201, "slo/")
    path, resource = f"/slos/{made['id']}", f"slo/{made['id']}"
    await change(("PUT", "/v1/slos/{slo_id}"), path, {**slo, "target": 0.9}, 200, resource)
    await change(("DELETE", "/v1/slos/{slo_id}"), path, None, 204, resource)
    await change(("DELETE", "/v1/alerts/channels/{channel_id}"), at, None, 204, hook_resource)


async def test_refused_calls_are_audited_through_the_queue(deck: Deck) -> None:
    viewer = await deck.member("vera", "viewer")
    refused = await deck.client.post("/api/v1/users", json={"name": "x"}, headers=viewer.headers)
    assert refused.status_code == 403
    denied = await deck.wait_for_event(
        deck.owner, "api.denied", {"request_id": refused.headers["x-agentdeck-request-id"]}
    )
    assert (denied["actor"], denied["resource"]) == ("user:vera", "POST /api/v1/users")
    model = await deck.chat("fake-a", viewer.headers)
    assert model.status_code == 403
    event = await deck.wait_for_event(
        deck.owner, "model.denied", {"request_id": model.headers["x-agentdeck-request-id"]}
    )
    assert (event["actor"], event["resource"]) == ("user:vera", "model/fake-a")
    await deck.api("DELETE", f"/keys/{viewer.key_id}")
    gone = await deck.chat("fake-a", viewer.headers)
    assert gone.status_code == 401
    auth = await deck.wait_for_event(
        deck.owner, "auth.denied", {"request_id": gone.headers["x-agentdeck-request-id"]}
    )
    assert (auth["actor"], auth["resource"]) == ("user:vera", f"key/{viewer.key_id}")
    verdict = await deck.api("GET", "/audit/verify")
    assert verdict["ok"] is True
    assert verdict["checked"] == len(await deck.audit_events())


async def test_the_export_is_the_whole_chain_and_verify_finds_an_edit(deck: Deck) -> None:
    await deck.member("eve", "developer")
    events = await deck.audit_events()
    exported = await deck.client.get("/api/v1/audit/export", headers=deck.owner)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/jsonl")
    lines = [line for line in exported.text.split("\n") if line]
    assert len(lines) == len(events) >= 3
    assert (await deck.api("GET", "/audit/verify"))["ok"] is True
    tenant_id = events[0]["tenant_id"]
    async with deck.services.engine.begin() as conn:  # SQLite has no append-only triggers
        await conn.execute(
            sa.update(audit_events)
            .where(audit_events.c.tenant_id == tenant_id, audit_events.c.position == 2)
            .values(actor="user:mallory")
        )
    verdict = await deck.api("GET", "/audit/verify")
    assert verdict["ok"] is False
    assert verdict["bad_position"] == 2


async def test_only_auditors_read_the_log_and_each_tenant_its_own(deck: Deck) -> None:
    other = await deck.tenant("tenant-o", "o-owner")
    await deck.api("POST", "/users", other.headers, {"name": "o-user"}, expect=201)
    mine = await deck.audit_events()
    theirs = await deck.audit_events(other.headers)
    assert {e["tenant_id"] for e in theirs} == {other.tenant_id}
    assert {e["tenant_id"] for e in mine} == {(await deck.api("GET", "/me"))["tenant_id"]}
    assert [e["action"] for e in theirs] == [
        "tenant.create",
        "project.create",
        "user.create",
        "role.bind",
        "key.create",
        "user.create",
    ]
    developer = await deck.member("dev", "developer")
    for path in ("/audit", "/audit/verify", "/audit/export"):
        await deck.api("GET", path, developer.headers, expect=403)
    page = await deck.client.get("/api/v1/audit", params={"limit": 2}, headers=bearer(other.key))
    assert [e["position"] for e in page.json()["events"]] == [1, 2]
    assert page.json()["next"] == 2


async def prompt_changes(change: Any) -> None:
    """Make every change of the prompt routes through `change`."""
    at, resource = "/prompts/team/p", "prompt/"
    made = await change(
        ("POST", "/v1/prompts/{name}/versions"), f"{at}/versions", TEXT, 201, resource
    )
    versions = f"{resource}{made['version']['project']}/team/p/versions"
    await change(
        ("POST", "/v1/prompts/{name}/versions"),
        f"{at}/versions",
        {**TEXT, "template": "two"},
        201,
        f"{versions}/2",
    )
    for verb in ("archive", "unarchive"):
        await change(
            ("POST", f"/v1/prompts/{{name}}/versions/{{number}}/{verb}"),
            f"{at}/versions/1/{verb}",
            None,
            200,
            f"{versions}/1",
        )
    label = ("PUT", "/v1/prompts/{name}/labels/{label}")
    on = f"{resource}{made['version']['project']}/team/p/labels/production"
    for number in (1, 2):
        await change(label, f"{at}/labels/production", {"version": number}, 200, on)
    await change(
        ("POST", "/v1/prompts/{name}/labels/{label}/rollback"),
        f"{at}/labels/production/rollback",
        None,
        200,
        on,
    )
    await change(
        ("DELETE", "/v1/prompts/{name}/labels/{label}"), f"{at}/labels/production", None, 204, on
    )


async def tool_changes(deck: Deck, change: Any) -> None:
    """Make every change of the tool and approval routes through `change`; the approvals are
    asked for by another principal (a requester cannot decide its own)."""
    tool = {"implementation": {"kind": "python", "entry_point": "t"}, "risk": "high"}
    await change(("PUT", "/v1/tools/{name}"), "/tools/t", tool, 201, "tool/t")
    await change(("DELETE", "/v1/tools/{name}"), "/tools/t", None, 204, "tool/t")
    me = await deck.api("GET", "/me")
    binding = Binding(me["tenant_id"], me["project_id"], "t", "0" * 64, "", "prn_someone")
    for verb in ("approve", "deny"):
        asked = await deck.services.approvals.request(binding, {}, "user:someone")
        await change(
            ("POST", f"/v1/approvals/{{approval_id}}/{verb}"),
            f"/approvals/{asked}/{verb}",
            {"reason": "checked"},
            200,
            f"approval/{asked}",
        )
