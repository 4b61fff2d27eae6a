"""The tenant-isolation walk: every `/api` route in the OpenAPI document, called by every
built-in role of tenant A with tenant B's ids, is refused (403/404) or answers with A's own
data only, and leaves B's rows exactly as they were."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from agentdeck.settings_alerts import AlertSettings
from agentdeck.tracing.alerts.worker import AlertWorker
from tests.unit.api._deck import Deck, bearer
from tests.unit.api._isolation import (
    ROLES,
    World,
    build,
    leaks,
    observability_cases,
    prompt_cases,
    snapshot,
    tool_cases,
    with_prompts,
    with_tools,
)

CALM = {200, 201, 204, 400, 403, 404, 409}  # what a call that names nothing of B may get
B_HOOK_SECRET = "b-hook-secret-1029384756"
B_HOOK_URL = "http://127.0.0.1:9/b-hook-path"  # nothing listens; the walk never delivers


@dataclass(frozen=True, slots=True)
class Case:
    """One call of a route: its path parameters, body, whether it names B's resources, and
    a query string."""

    params: dict[str, str]
    body: Any = None
    names_b: bool = True
    query: str = ""


async def with_alerts(deck: Deck, world: World) -> World:
    """Give B an alert channel, a metric rule sending to it (firing on B's chat span), an SLO
    and the rule's event; B's delivery is left pending. When alerts run in the background
    the worker may evaluate the rule first: the event is waited for either way."""
    b = world.b.headers
    channel = await deck.api(
        "POST",
        "/alerts/channels",
        b,
        {"name": "b-channel-name", "url": B_HOOK_URL, "secret": B_HOOK_SECRET},
        expect=201,
    )
    rule = {"name": "b-rule-name", "metric": "requests", "threshold": 0, "interval_s": 86_400}
    made = await deck.api("POST", "/alerts/rules", b, {**rule, "channels": [channel["id"]]}, 201)
    slo = {"name": "b-slo-name", "objective": "availability", "target": 0.9, "interval_s": 86_400}
    slo_made = await deck.api("POST", "/slos", b, slo, expect=201)
    worker = AlertWorker(deck.services.engine, AlertSettings(), deck.services.alert_deliverer)
    deadline = time.monotonic() + 5
    while True:
        await worker.evaluate_due()  # 0 when the background worker got there first
        events = (await deck.api("GET", "/alerts/events", b))["data"]
        slo_state = await deck.api("GET", f"/slos/{slo_made['id']}", b)
        if events and slo_state["last_evaluated_at"] is not None:
            break
        assert time.monotonic() < deadline, "B's rule did not fire"
        await asyncio.sleep(0.05)
    [event] = events
    assert (event["rule_id"], event["state"]) == (made["id"], "firing")
    world.b_ids |= {
        "channel": channel["id"],
        "rule": made["id"],
        "slo": slo_made["id"],
        "event": event["id"],
    }
    world.b_data += ["b-channel-name", "b-hook-path", B_HOOK_SECRET, "b-rule-name", "b-slo-name"]
    return world


@pytest.fixture
async def walk_deck(store_database: dict[str, str] | None, open_deck: Any) -> Deck:
    """The app on SQLite and PostgreSQL with alerts off in the background: a worker there
    would move B's rules and deliveries on during the walk, which the snapshot forbids."""
    where = {"database": store_database} if store_database else {}
    found: Deck = await open_deck(alerts={"enabled": False}, **where)
    return found


def cases(w: World) -> dict[tuple[str, str], list[Case]]:
    """Every route's calls against B (keyed like the OpenAPI document)."""
    b, a = w.b_ids, w.a_ids
    calm = Case({}, None, names_b=False)
    limit = {"metric": "requests", "amount": 1}
    return {
        **{key: [Case(*call) for call in calls] for key, calls in observability_cases(w).items()},
        **{key: [Case(*call) for call in calls] for key, calls in prompt_cases(w).items()},
        **{key: [Case(*call) for call in calls] for key, calls in tool_cases(w).items()},
        ("GET", "/v1/me"): [calm],
        ("GET", "/v1/tenant"): [calm],
        ("GET", "/v1/tenants"): [calm],
        ("POST", "/v1/tenants"): [Case({}, {"slug": "tenant-b"}), Case({}, {"slug": "a-new"})],
        ("GET", "/v1/projects"): [calm],
        ("POST", "/v1/projects"): [Case({}, {"slug": "a-side"}, names_b=False)],
        ("GET", "/v1/projects/{project_id}"): [
            Case({"project_id": b["project"]}),
            Case({"project_id": b["main_project"]}),
        ],
        ("GET", "/v1/teams"): [calm],
        ("POST", "/v1/teams"): [Case({}, {"project_id": b["project"], "name": "x"})],
        ("PUT", "/v1/teams/{team_id}/members/{principal_id}"): [
            Case({"team_id": b["team"], "principal_id": b["user"]}),
            Case({"team_id": a["team"], "principal_id": b["user"]}),
            Case({"team_id": b["team"], "principal_id": a["user"]}),
        ],
        ("DELETE", "/v1/teams/{team_id}/members/{principal_id}"): [
            Case({"team_id": b["team"], "principal_id": b["user"]}),
            Case({"team_id": a["team"], "principal_id": b["user"]}),
        ],
        ("GET", "/v1/users"): [calm],
        ("POST", "/v1/users"): [Case({}, {"name": "a-made"}, names_b=False)],
        ("GET", "/v1/service-accounts"): [calm],
        ("POST", "/v1/service-accounts"): [Case({}, {"name": "a-robot"}, names_b=False)],
        ("GET", "/v1/principals/{principal_id}"): [
            Case({"principal_id": b[name]}) for name in ("user", "owner", "robot")
        ],
        ("PATCH", "/v1/principals/{principal_id}"): [
            Case({"principal_id": b[name]}, {"disabled": True}) for name in ("user", "owner")
        ],
        ("GET", "/v1/roles"): [calm],
        ("POST", "/v1/roles"): [Case({}, {"name": "a-role", "permissions": []}, names_b=False)],
        ("GET", "/v1/role-bindings"): [calm],
        ("POST", "/v1/role-bindings"): [
            Case({}, {"principal_id": b["user"], "role": "viewer"}),
            Case({}, {"principal_id": a["user"], "role": "viewer", "project_id": b["project"]}),
        ],
        ("DELETE", "/v1/role-bindings/{binding_id}"): [Case({"binding_id": b["binding"]})],
        ("GET", "/v1/keys"): [calm],
        ("POST", "/v1/keys"): [
            Case({}, {"principal_id": b["user"]}),
            Case({}, {"project_id": b["project"]}),
            Case({}, {"principal_id": a["user"], "project_id": b["project"]}),
            Case({}, {"principal_id": b["user"], "project_id": a["project"]}),
        ],
        ("GET", "/v1/keys/{key_id}"): [Case({"key_id": b["key"]})],
        ("DELETE", "/v1/keys/{key_id}"): [Case({"key_id": b["key"]})],
        ("POST", "/v1/keys/{key_id}/rotate"): [Case({"key_id": b["key"]}, {"overlap_s": 0})],
        ("GET", "/v1/limits"): [calm],
        ("PUT", "/v1/limits"): [
            Case({}, {"scope_kind": kind, "scope_id": b[name], **limit})
            for kind, name in (
                ("tenant", "tenant"),
                ("project", "project"),
                ("team", "team"),
                ("user", "user"),
                ("key", "key"),
            )
        ],
        ("DELETE", "/v1/limits/{limit_id}"): [Case({"limit_id": b["limit"]})],
        ("GET", "/v1/budgets"): [calm],
        ("GET", "/v1/credentials"): [calm],
        ("PUT", "/v1/credentials/{name}"): [Case({"name": "a-cred"}, {"value": "x"}, False)],
        ("DELETE", "/v1/credentials/{name}"): [Case({"name": "b-secret"})],
        ("GET", "/v1/audit"): [calm],
        ("GET", "/v1/audit/verify"): [calm],
        ("GET", "/v1/audit/export"): [calm],
        ("GET", "/v1/gateway/switches"): [calm],
        # Switches are shared by every tenant: moving one from tenant A would reach B.
        ("PUT", "/v1/gateway/switches/{kind}/{name}"): [
            Case({"kind": "alias", "name": "fake-a"}, {"off": True}),
            Case({"kind": "deployment", "name": "fake-a/one"}, {"off": True}),
        ],
        ("GET", "/v1/gateway/breakers"): [calm],
        ("GET", "/v1/spans"): [calm],
        ("GET", "/v1/traces"): [calm],
        ("GET", "/v1/traces/{trace_id}"): [Case({"trace_id": b["trace"]})],
        ("GET", "/v1/sessions"): [calm],
        **alert_cases(w),
    }


def alert_cases(w: World) -> dict[tuple[str, str], list[Case]]:
    """The cross-tenant calls of the alert and SLO routes. A channel of B named in a rule is
    unknown to A: 400 naming `channels`, as for one that does not exist. A scope naming B's
    project is only a filter on A's own spans."""
    b = w.b_ids
    calm = Case({}, None, names_b=False)
    rule = {"name": "a-rule", "metric": "requests", "threshold": 1}
    slo = {"name": "a-slo", "objective": "availability", "target": 0.9}
    channel = {"name": "a-hook", "url": "http://127.0.0.1:9/a", "secret": "a" * 16}
    return {
        ("GET", "/v1/alerts/channels"): [calm],
        ("POST", "/v1/alerts/channels"): [Case({}, channel, names_b=False)],
        ("GET", "/v1/alerts/channels/{channel_id}"): [Case({"channel_id": b["channel"]})],
        ("PATCH", "/v1/alerts/channels/{channel_id}"): [
            Case({"channel_id": b["channel"]}, channel),
            Case({"channel_id": b["channel"]}, {"secret": "a" * 16}),
        ],
        ("DELETE", "/v1/alerts/channels/{channel_id}"): [Case({"channel_id": b["channel"]})],
        ("POST", "/v1/alerts/channels/{channel_id}/test"): [Case({"channel_id": b["channel"]})],
        ("GET", "/v1/alerts/rules"): [calm],
        ("POST", "/v1/alerts/rules"): [
            Case({}, {**rule, "channels": [b["channel"]]}, names_b=False),
            Case({}, {**rule, "scope": {"project_id": b["project"]}}, names_b=False),
        ],
        ("GET", "/v1/alerts/rules/{rule_id}"): [
            Case({"rule_id": b["rule"]}),
            Case({"rule_id": b["slo"]}),
        ],
        ("PUT", "/v1/alerts/rules/{rule_id}"): [
            Case({"rule_id": b["rule"]}, {**rule, "enabled": False}),
            Case({"rule_id": b["rule"]}, {**rule, "channels": [b["channel"]]}),
        ],
        ("DELETE", "/v1/alerts/rules/{rule_id}"): [
            Case({"rule_id": b["rule"]}),
            Case({"rule_id": b["slo"]}),
        ],
        ("GET", "/v1/alerts/events"): [
            calm,
            Case({}, None, names_b=False, query=f"?rule_id={b['rule']}"),
        ],
        ("GET", "/v1/alerts/events/{event_id}"): [Case({"event_id": b["event"]})],
        ("GET", "/v1/slos"): [calm],
        ("POST", "/v1/slos"): [Case({}, {**slo, "channels": [b["channel"]]}, names_b=False)],
        ("GET", "/v1/slos/{slo_id}"): [Case({"slo_id": b["slo"]}), Case({"slo_id": b["rule"]})],
        ("PUT", "/v1/slos/{slo_id}"): [Case({"slo_id": b["slo"]}, {**slo, "enabled": False})],
        ("DELETE", "/v1/slos/{slo_id}"): [Case({"slo_id": b["slo"]})],
    }


async def openapi_routes(deck: Deck) -> tuple[str, set[tuple[str, str]]]:
    """The API's mount prefix and every (method, path) of its OpenAPI document."""
    response = await deck.client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    prefix = document["servers"][0]["url"]
    return prefix, {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}


async def call(
    deck: Deck, w: World, prefix: str, headers: dict[str, str], method: str, path: str, case: Case
) -> list[str]:
    """Make one call; the problems found with its answer."""
    url = prefix + path.format(**case.params) + case.query
    response = await deck.client.request(method, url, headers=headers, json=case.body)
    what = f"{method} {url} {orjson.dumps(case.body).decode()}"
    allowed = {403, 404} if case.names_b else CALM
    problems = []
    if response.status_code not in allowed:
        problems.append(f"{what} -> {response.status_code} {response.text[:200]}")
    media_type = response.headers.get("content-type", "")
    found = leaks(w, what, response.text, media_type, w.a.tenant_id)
    w.sent.append(what)
    if found:
        problems.append(f"{what} -> shows B's {found}")
    return problems


async def test_every_route_keeps_tenant_b_out_of_reach_of_every_role_of_a(
    walk_deck: Deck,
) -> None:
    deck = walk_deck
    world = await with_tools(
        deck, await with_prompts(deck, await with_alerts(deck, await build(deck)))
    )
    prefix, routes = await openapi_routes(deck)
    table = cases(world)
    assert routes - set(table) == set(), "new /api routes: add their cross-tenant calls here"
    assert set(table) - routes == set(), "these routes are gone from the OpenAPI document"
    before = await snapshot(deck, world.b.tenant_id)
    problems: list[str] = []
    calls = 0
    for role in ROLES:
        for (method, path), variants in sorted(table.items()):
            for case in variants:
                found = await call(deck, world, prefix, world.callers[role], method, path, case)
                problems += [f"[{role}] {p}" for p in found]
                calls += 1
        assert await snapshot(deck, world.b.tenant_id) == before, f"{role} changed B's rows"
    assert problems == []
    assert calls == len(ROLES) * sum(len(v) for v in table.values())
    # B is served as before: its keys, its switches, its audit chain.
    for headers in (world.b.headers, bearer(world.b_key)):
        assert (await deck.chat("fake-a", headers)).status_code == 200
    verdict = await deck.api("GET", "/audit/verify", world.b.headers)
    assert verdict["ok"] is True
    listed = await deck.api("GET", "/users", world.b.headers)
    assert {u["name"] for u in listed} == {"b-owner", "b-user"}
    assert {u["disabled"] for u in listed} == {False}


async def test_a_tenant_admin_sees_only_its_own_rows_in_every_list(deck: Deck) -> None:
    world = await with_tools(
        deck, await with_prompts(deck, await with_alerts(deck, await build(deck)))
    )
    a = world.callers["admin"]
    lists = {
        "/users": 3 + 1,
        "/service-accounts": 0,
        "/projects": 1,
        "/teams": 1,
        "/keys": 4,
        "/role-bindings": 4,
        "/limits": 0,
        "/credentials": 0,
        "/budgets": 0,
        "/alerts/channels": 0,
        "/alerts/rules": 0,
        "/slos": 0,
    }
    for path, count in lists.items():
        rows = await deck.api("GET", path, a)
        assert len(rows) == count, (path, rows)
        assert all(row.get("tenant_id", world.a.tenant_id) == world.a.tenant_id for row in rows)
    assert await deck.api("GET", "/alerts/events", a) == {"data": [], "next": None}
    assert await deck.api("GET", "/prompts", a) == {"data": [], "next": None}
    assert await deck.api("GET", "/tools", a) == {"data": [], "next": None}
    assert await deck.api("GET", "/approvals", a) == {"data": [], "next": None}
    tenant = await deck.api("GET", "/tenant", a)
    assert (tenant["id"], tenant["slug"]) == (world.a.tenant_id, "tenant-a")
    roles = await deck.api("GET", "/roles", a)
    assert [r["name"] for r in roles if not r["builtin"]] == []


async def test_a_credential_of_the_same_name_is_each_tenants_own(deck: Deck) -> None:
    world = await build(deck)
    before = await snapshot(deck, world.b.tenant_id)
    stored = await deck.api("PUT", "/credentials/b-secret", world.callers["admin"], {"value": "a"})
    assert stored == {"name": "b-secret", "version": 1}
    assert await snapshot(deck, world.b.tenant_id) == before
    vault = deck.services.vault
    assert await vault.reveal(world.b.tenant_id, "b-secret") == "b-value-1234567890"
    assert await vault.reveal(world.a.tenant_id, "b-secret") == "a"
    await deck.api("DELETE", "/credentials/b-secret", world.callers["owner"], expect=204)
    assert await vault.reveal(world.b.tenant_id, "b-secret") == "b-value-1234567890"
    listed = await deck.api("GET", "/credentials", world.b.headers)
    assert [(c["name"], c["version"]) for c in listed] == [("b-secret", 1)]
