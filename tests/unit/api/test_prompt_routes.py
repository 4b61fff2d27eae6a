"""The prompt registry through the in-process app: the version, label, diff, resolve and
render routes with the figures they answer, each role's share (protected labels for
`prompts:label` only, refusals audited), projects named by id or slug with per-project
permissions, 400s naming the field, and concurrent creators on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentdeck.prompts.models import LabelTarget, Split
from agentdeck.prompts.resolver import pick_split
from tests.unit.api._deck import Deck

AT = "/prompts/support/triage"
SCHEMA = {
    "type": "object",
    "properties": {"who": {"type": "string"}, "tone": {"type": "string", "default": "warm"}},
    "required": ["who"],
}
CHAT = {
    "type": "chat",
    "messages": [
        {"role": "system", "content": "Be {{ tone }}."},
        {"role": "user", "content": "Help {{ who }}."},
    ],
    "variables": SCHEMA,
    "params": {"temperature": 0.2},
    "model": "fake-a",
    "message": "first",
}


def edited(**fields: Any) -> dict[str, Any]:
    """CHAT with some fields replaced."""
    return {**CHAT, **fields}


async def made(deck: Deck, headers: dict[str, str] | None = None, body: Any = None) -> Any:
    return await deck.api("POST", f"{AT}/versions", headers, body or CHAT, expect=201)


async def test_a_prompts_life_through_the_api(deck: Deck) -> None:
    first = await made(deck)
    assert first["created"] is True
    v1 = first["version"]
    assert (v1["name"], v1["version"], v1["type"], v1["author"], v1["message"]) == (
        "support/triage", 1, "chat", "user:owner", "first",
    )  # fmt: skip
    assert v1["content"] == {**{k: v for k, v in CHAT.items() if k != "message"},
                             "template": None, "tools": None, "metadata": {}}  # fmt: skip
    assert v1["project"] == (await deck.api("GET", "/me"))["project_id"]
    same = await deck.api("POST", f"{AT}/versions", json={**CHAT, "message": "again"})
    assert same == {"created": False, "version": v1}
    hotter = edited(params={"temperature": 0.7}, message="warmer")
    v2 = (await made(deck, body=hotter))["version"]
    assert v2["version"] == 2

    label = await deck.api("PUT", f"{AT}/labels/production", json={"version": 1})
    assert (label["label"], label["version"], label["splits"], label["protected"]) == (
        "production", 1, None, True,
    )  # fmt: skip
    assert label["updated_by"] == "user:owner"
    prompt = await deck.api("GET", AT)
    assert (prompt["latest_version"], prompt["type"], list(prompt["labels"])) == (
        2, "chat", ["production"],
    )  # fmt: skip
    listed = await deck.api("GET", "/prompts")
    assert [(p["name"], p["latest_version"]) for p in listed["data"]] == [("support/triage", 2)]
    assert listed["next"] is None

    diff = await deck.api("GET", f"{AT}/diff?from=production&to=2")
    assert (diff["from"], diff["to"]) == (1, 2)
    assert diff["changes"] == [{"path": "params.temperature", "from": 0.2, "to": 0.7}]
    assert diff["unified"].startswith("--- support/triage@production\n+++ support/triage@2\n")
    assert "-  temperature: 0.2\n+  temperature: 0.7\n" in diff["unified"]

    await deck.api("PUT", f"{AT}/labels/production", json={"version": 2, "message": "go"})
    assert (await deck.api("GET", f"{AT}/resolve"))["version"] == 2
    rolled = await deck.api("POST", f"{AT}/labels/production/rollback", json={"message": "oops"})
    assert rolled["version"] == 1
    assert (await deck.api("GET", f"{AT}/resolve"))["version"] == 1
    history = await deck.api("GET", f"{AT}/labels/production/history")
    assert [(m["from"], m["to"], m["message"]) for m in history["data"]] == [
        ({"version": 2}, {"version": 1}, "oops"),
        ({"version": 1}, {"version": 2}, "go"),
        (None, {"version": 1}, ""),
    ]
    assert {m["actor"] for m in history["data"]} == {"user:owner"}
    assert all(m["request_id"].startswith("req_") for m in history["data"])

    rendered = await deck.api("POST", f"{AT}/render", json={"variables": {"who": "Ann"}})
    assert rendered == {
        "name": "support/triage",
        "version": 1,
        "type": "chat",
        "messages": [
            {"role": "system", "content": "Be warm."},
            {"role": "user", "content": "Help Ann."},
        ],
        "params": {"temperature": 0.2},
        "model": "fake-a",
        "tools": None,
    }
    by_number = await deck.api(
        "POST", f"{AT}/render", json={"version": 2, "variables": {"who": "Bo", "tone": "dry"}}
    )
    assert (by_number["version"], by_number["messages"][0]["content"]) == (2, "Be dry.")
    assert by_number["params"] == {"temperature": 0.7}


async def test_a_text_prompt_renders_its_text(deck: Deck) -> None:
    body = {"type": "text", "template": "Summarise: {{ doc }}", "message": "t"}
    await deck.api("POST", "/prompts/sum/versions", json=body, expect=201)
    await deck.api("PUT", "/prompts/sum/labels/dev", json={"version": 1})
    found = await deck.api(
        "POST", "/prompts/sum/render", json={"label": "dev", "variables": {"doc": "a b"}}
    )
    assert found == {
        "name": "sum", "version": 1, "type": "text", "text": "Summarise: a b",
        "params": {}, "model": None, "tools": None,
    }  # fmt: skip


async def test_archiving_hides_a_version_from_lists_and_label_moves(deck: Deck) -> None:
    await made(deck)
    await made(deck, body=edited(model="fake-b"))
    await deck.api("PUT", f"{AT}/labels/production", json={"version": 1})
    archived = await deck.api("POST", f"{AT}/versions/1/archive")
    assert archived["archived"] is True
    versions = await deck.api("GET", f"{AT}/versions")
    assert [v["version"] for v in versions["data"]] == [2]
    assert "content" not in versions["data"][0]
    everything = await deck.api("GET", f"{AT}/versions?include_archived=true")
    assert [(v["version"], v["archived"]) for v in everything["data"]] == [(2, False), (1, True)]
    assert (await deck.api("GET", f"{AT}/resolve"))["version"] == 1  # still served
    await deck.api("PUT", f"{AT}/labels/production", json={"version": 2})
    refused = await deck.api("PUT", f"{AT}/labels/production", json={"version": 1}, expect=409)
    assert refused["error"]["param"] == "version"
    await deck.api("POST", f"{AT}/versions/1/unarchive")
    await deck.api("PUT", f"{AT}/labels/production", json={"version": 1})


async def test_a_split_label_is_sticky_per_key(deck: Deck) -> None:
    await made(deck)
    await made(deck, body=edited(model="fake-b"))
    splits = [{"version": 1, "weight": 3}, {"version": 2, "weight": 1}]
    state = await deck.api("PUT", f"{AT}/labels/canary", json={"splits": splits})
    assert (state["version"], state["splits"]) == (None, splits)
    target = LabelTarget(splits=(Split(1, 3), Split(2, 1)))
    for key in ("u1", "u2", "u3", "u4", "u5", "u6"):
        expected = pick_split(target, "support/triage", "canary", key)
        for _ in range(2):
            found = await deck.api("GET", f"{AT}/resolve?label=canary&sticky={key}")
            assert found["version"] == expected
    refused = await deck.api("GET", f"{AT}/diff?from=canary", expect=400)
    assert refused["error"]["param"] == "from"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/prompts/a//b/versions", CHAT, "name"),
        ("/prompts/a/labels/x/versions", CHAT, "name"),
        ("/prompts/p/versions", {**CHAT, "colour": 1}, "colour"),
        ("/prompts/p/versions", {**CHAT, "type": "image"}, "type"),
        ("/prompts/p/versions", {**CHAT, "messages": [{"role": "robot", "content": "x"}]},
         "messages.0.role"),
        ("/prompts/p/versions", {**CHAT, "messages": [{"role": "user", "content": "{{ x"}]},
         "messages.0.content"),
        ("/prompts/p/versions", {**CHAT, "messages": [{"role": "user", "content": "{{ y }}"}]},
         "variables.properties.y"),
        ("/prompts/p/versions", {"type": "text", "template": "x", "params": {"n": 2**70}}, None),
        ("/prompts/p/versions", {"type": "text"}, "template"),
    ],
)  # fmt: skip
async def test_a_bad_version_is_a_400_naming_the_field(
    deck: Deck, path: str, body: Any, param: str | None
) -> None:
    refused = await deck.api("POST", path, json=body, expect=400)
    assert refused["error"]["param"] == param
    assert (await deck.api("GET", "/prompts"))["data"] == []


async def test_bad_references_and_variables_are_400s_naming_them(deck: Deck) -> None:
    await made(deck)
    await deck.api("PUT", f"{AT}/labels/production", json={"version": 1})
    cases = [
        ("PUT", f"{AT}/labels/Prod", {"version": 1}, 400, "label"),
        ("PUT", f"{AT}/labels/x", {"version": 1, "splits": [{"version": 1, "weight": 1}]}, 400,
         "version"),
        ("PUT", f"{AT}/labels/x", {"splits": [{"version": 1, "weight": 0}]}, 400,
         "splits.0.weight"),
        ("PUT", f"{AT}/labels/x", {"version": 7}, 404, "version"),
        ("PUT", "/prompts/nope/labels/x", {"version": 1}, 404, "name"),
        ("GET", f"{AT}/resolve?label=x&version=1", None, 400, "label"),
        ("GET", f"{AT}/resolve?label=nope", None, 404, "prompt.label"),
        ("GET", f"{AT}/resolve?version=9", None, 404, "prompt.version"),
        ("GET", "/prompts/nope/resolve", None, 404, "prompt.name"),
        ("GET", f"{AT}/versions/9", None, 404, "version"),
        ("GET", f"{AT}/versions/0", None, 400, "path.number"),
        ("POST", f"{AT}/render", {"variables": {}}, 400, "variables.who"),
        ("POST", f"{AT}/render", {"variables": {"who": "a", "mood": 1}}, 400, "variables.mood"),
        ("POST", f"{AT}/render", {"variables": {"who": 5}}, 400, "variables.who"),
        ("POST", f"{AT}/labels/production/rollback", None, 409, None),
        ("DELETE", f"{AT}/labels/nope", None, 404, "label"),
    ]  # fmt: skip
    for method, path, body, status, param in cases:
        refused = await deck.api(method, path, json=body, expect=status)
        assert refused["error"]["param"] == param, (method, path, refused)
    missing = await deck.api("POST", f"{AT}/render", json={"variables": {"tone": "x"}}, expect=400)
    assert missing["error"]["message"] == "missing variables: who"


async def test_each_role_may_do_its_share_and_refusals_are_audited(deck: Deck) -> None:
    viewer = (await deck.member("vic", "viewer")).headers
    developer = (await deck.member("dev", "developer")).headers
    admin = (await deck.member("ada", "admin")).headers
    await deck.api("POST", f"{AT}/versions", viewer, CHAT, expect=403)
    await made(deck, developer)
    await made(deck, developer, edited(model="fake-b"))
    assert (await deck.api("GET", AT, viewer))["latest_version"] == 2
    await deck.api("POST", f"{AT}/render", viewer, {"version": 1, "variables": {"who": "x"}})
    await deck.api("PUT", f"{AT}/labels/staging", viewer, {"version": 1}, expect=403)
    staging = await deck.api("PUT", f"{AT}/labels/staging", developer, {"version": 1})
    assert staging["protected"] is False
    refused = await deck.client.put(
        f"/api/v1{AT}/labels/production", json={"version": 1}, headers=developer
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "user:dev lacks permission 'prompts:label'"
    await deck.wait_for_event(
        deck.owner, "api.denied", {"request_id": refused.headers["x-agentdeck-request-id"]}
    )
    await deck.api("PUT", f"{AT}/labels/production", developer, {"protected": False}, expect=403)
    await deck.api("PUT", f"{AT}/labels/staging", developer, {"protected": True}, expect=403)
    await deck.api("PUT", f"{AT}/labels/production", admin, {"version": 1})
    for method, path, body in (
        ("PUT", f"{AT}/labels/production", {"version": 2}),
        ("POST", f"{AT}/labels/production/rollback", None),
        ("DELETE", f"{AT}/labels/production", None),
        ("PUT", f"{AT}/labels/production", {"protected": False}),
    ):
        await deck.api(method, path, developer, body, expect=403)
    await deck.api("PUT", f"{AT}/labels/production", admin, {"protected": False})
    moved = await deck.api("PUT", f"{AT}/labels/production", developer, {"version": 2})
    assert (moved["version"], moved["protected"]) == (2, False)
    await deck.api("DELETE", f"{AT}/labels/staging", developer, expect=204)
    assert list((await deck.api("GET", AT, viewer))["labels"]) == ["production"]
    actions = [e["action"] for e in await deck.audit_events() if e["action"].startswith("prompt")]
    assert actions == [
        "prompt.version.create", "prompt.version.create", "prompt.label.move",
        "prompt.label.move", "prompt.label.protect", "prompt.label.move", "prompt.label.delete",
    ]  # fmt: skip


async def test_a_project_is_named_by_id_or_slug_within_the_callers_reach(deck: Deck) -> None:
    side = await deck.api("POST", "/projects", json={"slug": "side"}, expect=201)
    everywhere = (await deck.member("eve", "developer")).headers
    main = (await deck.api("GET", "/me"))["project_id"]
    only_main = (await deck.member("mo", "developer", bind_in=main, project_id=main)).headers
    await deck.api("POST", f"{AT}/versions?project=side", everywhere, CHAT, expect=201)
    body = {**CHAT, "project": side["id"], "message": "second"}
    assert (await deck.api("POST", f"{AT}/versions", everywhere, body))["created"] is False
    found = await deck.api("GET", f"{AT}?project={side['id']}", everywhere)
    assert (found["project"], found["latest_version"]) == (side["id"], 1)
    await deck.api("GET", AT, everywhere, expect=404)  # the key's own project has none
    await deck.api("GET", f"{AT}?project=side", only_main, expect=403)
    await deck.api("POST", f"{AT}/versions?project=side", only_main, CHAT, expect=403)
    await deck.api("POST", f"{AT}/versions", only_main, CHAT, expect=201)  # in its own
    unknown = await deck.api("GET", f"{AT}?project=nowhere", everywhere, expect=404)
    assert unknown["error"]["param"] == "project"
    clash = {"project": "side", "variables": {"who": "x"}}
    refused = await deck.api("POST", f"{AT}/render?project={main}", everywhere, clash, 400)
    assert refused["error"]["param"] == "project"
    listed = await deck.api("GET", "/prompts?project=side", everywhere)
    assert [(p["name"], p["project"]) for p in listed["data"]] == [("support/triage", side["id"])]


async def test_lists_page_by_name(deck: Deck) -> None:
    for name in ("c", "a/x", "b", "a/y", "d"):
        await deck.api("POST", f"/prompts/{name}/versions", json=CHAT, expect=201)
    first = await deck.api("GET", "/prompts?limit=2")
    second = await deck.api("GET", f"/prompts?limit=2&cursor={first['next']}")
    third = await deck.api("GET", f"/prompts?limit=2&cursor={second['next']}")
    names = [p["name"] for page in (first, second, third) for p in page["data"]]
    assert names == ["a/x", "a/y", "b", "c", "d"]
    assert third["next"] is None


async def test_concurrent_creators_through_the_api_get_consecutive_numbers(
    store_deck: Deck,
) -> None:
    deck = store_deck
    answers = await asyncio.gather(
        *(
            deck.client.post(f"/api/v1{AT}/versions", json=edited(message=f"m{i}",
                             params={"temperature": i / 10}), headers=deck.owner)
            for i in range(10)
        )
    )  # fmt: skip
    assert [a.status_code for a in answers] == [201] * 10
    numbers = sorted(a.json()["version"]["version"] for a in answers)
    assert numbers == list(range(1, 11))
    listed = await deck.api("GET", f"{AT}/versions")
    assert [v["version"] for v in listed["data"]] == list(range(10, 0, -1))
