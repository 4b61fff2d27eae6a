"""Two tenants made by the platform owner, A with one member per built-in role and B full of
resources; B's rows snapshotted, and checks that a response shows nothing of B."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from agentdeck.db.metadata import metadata
from tests.unit.api._deck import Deck, Member, TenantOwner

ROLES = ("viewer", "developer", "admin", "owner")
B_SECRET = "b-value-1234567890"
B_SESSION = "b-session-0987654321"
B_TRACE = "b" * 31 + "1"
B_TRACEPARENT = f"00-{B_TRACE}-{'c' * 16}-01"
B_FEEDBACK = "b-feedback-comment-5647382910"
B_FEEDBACK_NAME = "b-feedback-name"


@dataclass(slots=True)
class World:
    """Tenant A's callers and ids, tenant B's ids, and B's data that A never sends."""

    a: TenantOwner
    b: TenantOwner
    callers: dict[str, dict[str, str]] = field(default_factory=dict)
    a_ids: dict[str, str] = field(default_factory=dict)
    b_ids: dict[str, str] = field(default_factory=dict)
    b_data: list[str] = field(default_factory=list)
    b_key: str = ""
    sent: list[str] = field(default_factory=list)  # every request A made in the walk


async def build(deck: Deck) -> World:
    """Tenants `tenant-a` and `tenant-b` with owners, A's role members, B's resources."""
    a_owner = await deck.tenant("tenant-a", "a-owner")
    world = World(a_owner, await deck.tenant("tenant-b", "b-owner"))
    a, b = world.a.headers, world.b.headers
    world.callers["owner"] = a
    members: dict[str, Member] = {}
    for role in ROLES[:3]:
        members[role] = await deck.member(f"a-{role}", role, a)
        world.callers[role] = members[role].headers
    a_team = await deck.api(
        "POST", "/teams", a, {"project_id": world.a.project_id, "name": "a-team"}, expect=201
    )
    world.a_ids = {
        "project": world.a.project_id,
        "user": members["developer"].principal_id,
        "team": a_team["id"],
        "key": members["developer"].key_id,
    }
    user = await deck.api(
        "POST", "/users", b, {"name": "b-user", "email": "b-user@b.example"}, expect=201
    )
    robot = await deck.api("POST", "/service-accounts", b, {"name": "b-robot"}, expect=201)
    project = await deck.api(
        "POST", "/projects", b, {"slug": "b-proj", "name": "B project"}, expect=201
    )
    team = await deck.api(
        "POST", "/teams", b, {"project_id": project["id"], "name": "b-team"}, expect=201
    )
    await deck.api("PUT", f"/teams/{team['id']}/members/{user['id']}", b, expect=204)
    await deck.api(
        "POST",
        "/roles",
        b,
        {"name": "b-role", "permissions": ["models:use"], "resources": {"models": ["fake-*"]}},
        expect=201,
    )
    binding = await deck.api(
        "POST", "/role-bindings", b, {"principal_id": user["id"], "role": "b-role"}, expect=201
    )
    key = await deck.api(
        "POST",
        "/keys",
        b,
        {"principal_id": user["id"], "name": "b-key-name", "project_id": project["id"]},
        expect=201,
    )
    limit = await deck.api(
        "PUT",
        "/limits",
        b,
        {"scope_kind": "user", "scope_id": user["id"], "metric": "requests", "amount": 77},
        expect=200,
    )
    await deck.api("PUT", "/credentials/b-secret", b, {"value": B_SECRET})
    chat = await deck.client.post(
        "/v1/chat/completions",
        json={"model": "fake-a", "messages": [{"role": "user", "content": "hi"}], "user": "b-u"},
        headers={**b, "x-agentdeck-session-id": B_SESSION, "traceparent": B_TRACEPARENT},
    )
    assert chat.status_code == 200, chat.text
    assert chat.headers["x-agentdeck-trace-id"] == B_TRACE
    b_trace = await deck.wait_for_trace(b, B_TRACE)
    b_span = b_trace["spans"][0]["span_id"]
    feedback = await deck.api(
        "POST",
        "/feedback",
        b,
        {
            "trace_id": B_TRACE,
            "span_id": b_span,
            "thumbs": "down",
            "comment": B_FEEDBACK,
            "name": B_FEEDBACK_NAME,
            "user": "b-end-user",
            "metadata": {"b": B_FEEDBACK},
        },
        expect=201,
    )
    world.b_key = key["key"]
    world.b_ids = {
        "tenant": world.b.tenant_id,
        "project": project["id"],
        "main_project": world.b.project_id,
        "user": user["id"],
        "owner": world.b.principal_id,
        "robot": robot["id"],
        "team": team["id"],
        "binding": binding["id"],
        "key": key["id"],
        "limit": limit["id"],
        "trace": B_TRACE,
        "span": b_span,
        "feedback": feedback["id"],
    }
    world.b_data = [
        "tenant-b",
        "b-owner",
        "b-user",
        "b-robot",
        "b-proj",
        "B project",
        "b-team",
        "b-role",
        "b-key-name",
        "b-secret",
        B_SECRET,
        key["display"],
        B_SESSION,
        B_TRACE,
        B_FEEDBACK,
        B_FEEDBACK_NAME,
        key["key"],
        world.b.key,
    ]
    return world


async def snapshot(deck: Deck, tenant_id: str) -> dict[str, list[str]]:
    """Every row of every table that belongs to `tenant_id`, in a stable order."""
    found: dict[str, list[str]] = {}
    async with deck.services.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "tenant_id" in table.c:
                column = table.c.tenant_id
            elif table.name == "tenants":
                column = table.c.id
            else:
                continue
            rows = await conn.execute(sa.select(table).where(column == tenant_id))
            found[table.name] = sorted(repr(tuple(row)) for row in rows)
    assert all(found[name] for name in ("tenants", "principals", "api_keys", "credentials"))
    return found


def tenant_ids(value: Any) -> set[str]:
    """Every `tenant_id` value anywhere in a JSON document."""
    if isinstance(value, dict):
        own = {str(value["tenant_id"])} if "tenant_id" in value else set()
        return own.union(*(tenant_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(tenant_ids(v) for v in value))
    return set()


def documents(text: str, media_type: str) -> list[Any]:
    """A response body as JSON documents (one per line for JSON Lines)."""
    if not text:
        return []
    if media_type.startswith("application/jsonl"):
        return [orjson.loads(line) for line in text.split("\n") if line]  # not splitlines: \u2028
    return [orjson.loads(text)]


def leaks(world: World, sent: str, text: str, media_type: str, own_tenant: str) -> list[str]:
    """What of tenant B a response shows that none of A's requests carried: A may have named
    its own rows after B's ids, and A's audit log quotes the paths of its refused requests."""
    said = " ".join([*world.sent, sent])
    markers = [*world.b_data, *world.b_ids.values()]
    shown = [m for m in markers if m in text and m not in said]
    for doc in documents(text, media_type):
        shown += [f"tenant_id {t}" for t in tenant_ids(doc) if t != own_tenant]
    return shown


def observability_cases(w: World) -> dict[tuple[str, str], list[tuple[dict[str, str], Any, bool]]]:
    """The cross-tenant calls of the metrics and feedback routes, as (path parameters, body,
    names B's resources) in the shape of test_tenant_isolation's `Case`. Feedback may name a
    trace that is not stored (yet), so A giving feedback on B's trace id is answered 201 for
    A's own tenant (403 without `traces:write`): it never attaches to B's trace, and B's rows
    stay as they were (the walk's snapshot)."""
    b = w.b_ids
    on_b = {"trace_id": b["trace"], "span_id": b["span"], "thumbs": "up", "comment": "a's"}
    return {
        ("GET", "/v1/metrics"): [({}, None, False)],
        ("GET", "/v1/feedback"): [({}, None, False)],
        ("POST", "/v1/feedback"): [
            ({}, on_b, False),
            ({}, {"trace_id": b["trace"], "score": 0.5}, False),
        ],
    }


B_PROMPT = "b-prompt-name"
B_TEMPLATE = "b-template-text-5647382910"


async def with_prompts(deck: Deck, world: World) -> World:
    """Give B the same prompt in both its projects: two versions, `production` on the first
    and `staging` split between both."""
    b = world.b.headers
    split = {"splits": [{"version": 1, "weight": 1}, {"version": 2, "weight": 3}]}
    for project in (world.b.project_id, world.b_ids["project"]):
        at = f"/prompts/{B_PROMPT}"
        for text in (B_TEMPLATE, f"{B_TEMPLATE} {{{{ b_var }}}}"):
            body = {"type": "text", "template": text, "project": project, "message": "b"}
            await deck.api("POST", f"{at}/versions", b, body, expect=201)
        await deck.api("PUT", f"{at}/labels/production?project={project}", b, {"version": 1})
        await deck.api("PUT", f"{at}/labels/staging?project={project}", b, split)
    world.b_data += [B_PROMPT, B_TEMPLATE, "b_var"]
    return world


PromptCall = tuple[dict[str, str], Any, bool, str]


def prompt_cases(w: World) -> dict[tuple[str, str], list[PromptCall]]:
    """The cross-tenant calls of the prompt routes, as (path parameters, body, names B's
    resources, query) in the shape of test_tenant_isolation's `Case`. B's prompt named in one
    of B's projects (by id or slug) is 404 or 403; named in A's own project it is only a name,
    which A may use for a prompt of its own."""
    b = w.b_ids
    projects = [b["project"], b["main_project"], "b-proj"]
    name = {"name": B_PROMPT}
    numbered = {**name, "number": "1"}
    labelled = {**name, "label": "production"}
    text = {"type": "text", "template": "a {{ x }}"}

    def calls(params: dict[str, str], body: Any = None, extra: str = "") -> list[PromptCall]:
        on_b = [(params, body, True, f"?project={p}{extra}") for p in projects]
        return [*on_b, (params, body, False, f"?{extra[1:]}" if extra else "")]

    in_body = {"project": b["project"]}
    return {
        ("GET", "/v1/prompts"): calls({}),
        ("GET", "/v1/prompts/{name}"): calls(name),
        ("POST", "/v1/prompts/{name}/versions"): [
            *calls(name, text),
            (name, {**text, **in_body}, True, ""),
        ],
        ("GET", "/v1/prompts/{name}/versions"): calls(name, extra="&include_archived=true"),
        ("GET", "/v1/prompts/{name}/versions/{number}"): calls(numbered),
        ("POST", "/v1/prompts/{name}/versions/{number}/archive"): calls(numbered),
        ("POST", "/v1/prompts/{name}/versions/{number}/unarchive"): calls(numbered),
        ("PUT", "/v1/prompts/{name}/labels/{label}"): [
            *calls(labelled, {"version": 1}),
            *calls({**name, "label": "staging"}, {"protected": True}),
        ],
        ("DELETE", "/v1/prompts/{name}/labels/{label}"): calls(labelled),
        ("GET", "/v1/prompts/{name}/labels/{label}/history"): calls(labelled),
        ("POST", "/v1/prompts/{name}/labels/{label}/rollback"): [
            *calls(labelled),
            (labelled, in_body, True, ""),
        ],
        ("GET", "/v1/prompts/{name}/diff"): calls(name, extra="&from=1&to=production"),
        ("GET", "/v1/prompts/{name}/resolve"): calls(name, extra="&label=staging&sticky=s"),
        ("POST", "/v1/prompts/{name}/render"): [
            *calls(name, {"variables": {"x": "1"}}),
            (name, {**in_body, "variables": {"b_var": "1"}}, True, ""),
        ],
    }


B_TOOL = "b-tool-name"
B_TOOL_DESCRIPTION = "b-tool-description-5647382910"
B_TOOL_ARGUMENT = "b-tool-argument-1029384756"


async def with_tools(deck: Deck, world: World) -> World:
    """Give B a high-risk tool whose header names B's credential, and a pending approval of
    a call of it."""
    b = world.b.headers
    tool = {
        "description": B_TOOL_DESCRIPTION,
        "risk": "high",
        "implementation": {
            "kind": "http", "method": "POST", "url": "http://127.0.0.1:9/b-tool-path",
            "headers": {"authorization": "Bearer {{credential:b-secret}}"},
        },
    }  # fmt: skip
    await deck.api("PUT", f"/tools/{B_TOOL}", b, tool, expect=201)
    trace = "b" * 31 + "2"
    called = await deck.api(
        "POST",
        f"/tools/{B_TOOL}/call",
        {**b, "traceparent": f"00-{trace}-{'c' * 16}-01"},
        {"arguments": {"q": B_TOOL_ARGUMENT}, "run_id": "b-run"},
    )
    assert called["error"]["type"] == "approval_required"
    await deck.wait_for_trace(b, trace)  # its span is stored before B's rows are snapshotted
    world.b_ids["approval"] = called["approval_id"]
    world.b_data += [B_TOOL_DESCRIPTION, B_TOOL_ARGUMENT, "b-tool-path", "b-run"]
    return world


def tool_cases(w: World) -> dict[tuple[str, str], list[tuple[dict[str, str], Any, bool, str]]]:
    """The cross-tenant calls of the tool and approval routes (see `prompt_cases`). B's tool
    name is only a name in A's tenant: A may register, call and remove a tool of its own so
    named; B's approval and B's project are 404 or 403."""
    name = {"name": B_TOOL}
    approval = {"approval_id": w.b_ids["approval"]}
    high = {"risk": "high", "implementation": {"kind": "python", "entry_point": "nope"}}
    return {
        ("GET", "/v1/tools"): [({}, None, False, "")],
        ("GET", "/v1/tools/{name}"): [(name, None, True, "")],
        ("PUT", "/v1/tools/{name}"): [
            (name, {**high, "project": w.b_ids["project"]}, True, ""),
            (name, {**high, "project": w.b_ids["main_project"]}, True, ""),
            (name, high, False, ""),
        ],
        ("DELETE", "/v1/tools/{name}"): [(name, None, False, "")],
        ("POST", "/v1/tools/{name}/call"): [
            (name, {"arguments": {"q": 1}}, False, ""),
            (name, {"arguments": {"q": 1}, "approval_id": approval["approval_id"]}, False, ""),
        ],
        ("GET", "/v1/approvals"): [({}, None, False, ""), ({}, None, False, "?status=pending")],
        ("GET", "/v1/approvals/{approval_id}"): [(approval, None, True, "")],
        ("POST", "/v1/approvals/{approval_id}/approve"): [(approval, {"reason": "x"}, True, "")],
        ("POST", "/v1/approvals/{approval_id}/deny"): [(approval, None, True, "")],
    }
