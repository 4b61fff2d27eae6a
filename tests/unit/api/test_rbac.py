"""Roles: the four built-in roles, custom roles narrowed to model patterns, keys narrowed by
`allowed_models`, project-scoped bindings, and `keys:own` against `keys:manage`."""

from __future__ import annotations

import pytest

from agentdeck.identity.rbac import BUILTIN_ROLES, PERMISSIONS
from tests.unit.api._deck import Deck, Member, bearer

ROLES = ("owner", "admin", "developer", "viewer")
# (method, path, body) -> the roles that may call it; everyone else gets 403.
MATRIX = [
    ("GET", "/users", None, {"owner", "admin", "developer", "viewer"}),
    ("GET", "/limits", None, {"owner", "admin", "developer", "viewer"}),
    ("POST", "/projects", {"slug": "p-{role}"}, {"owner", "admin"}),
    ("POST", "/users", {"name": "made-by-{role}"}, {"owner", "admin"}),
    ("POST", "/roles", {"name": "r-{role}", "permissions": ["models:use"]}, {"owner", "admin"}),
    ("GET", "/credentials", None, {"owner", "admin"}),
    ("GET", "/audit", None, {"owner", "admin"}),
    ("GET", "/audit/verify", None, {"owner", "admin"}),
    ("GET", "/tenants", None, {"owner"}),
    ("POST", "/tenants", {"slug": "t-{role}"}, {"owner"}),
]
CREATED = {"POST": 201}


async def _models(deck: Deck, headers: dict[str, str]) -> list[str]:
    response = await deck.client.get("/v1/models", headers=headers)
    assert response.status_code == 200
    return sorted(entry["id"] for entry in response.json()["data"])


async def test_the_builtin_roles_are_listed_with_their_permissions(deck: Deck) -> None:
    listed = await deck.api("GET", "/roles")
    builtin = {row["name"]: row for row in listed if row["builtin"]}
    assert set(builtin) == set(ROLES)
    for name, row in builtin.items():
        assert row["permissions"] == sorted(BUILTIN_ROLES[name])
        assert row["resources"] == {}
    assert set(builtin["owner"]["permissions"]) == set(PERMISSIONS)
    assert set(builtin["owner"]["permissions"]) - set(builtin["admin"]["permissions"]) == {
        "tenants:manage"
    }
    assert "models:use" not in builtin["viewer"]["permissions"]
    assert {"models:use", "keys:own"} <= set(builtin["developer"]["permissions"])
    assert "keys:manage" not in builtin["developer"]["permissions"]


@pytest.mark.parametrize("role", ROLES)
async def test_each_builtin_role_may_do_exactly_its_share(deck: Deck, role: str) -> None:
    member = await deck.member(f"m-{role}", role)
    me = await deck.api("GET", "/me", member.headers)
    assert me["permissions"] == sorted(BUILTIN_ROLES[role])
    chat = await deck.chat("fake-a", member.headers)
    if role == "viewer":
        assert chat.status_code == 403
        assert chat.json()["error"]["message"] == (
            f"user:m-{role} may not use model 'fake-a' with key {member.key_id}"
        )
    else:
        assert chat.status_code == 200
    for method, path, body, allowed in MATRIX:
        sent = {
            k: v.format(role=role) if isinstance(v, str) else v for k, v in (body or {}).items()
        }
        response = await deck.client.request(
            method, f"/api/v1{path}", headers=member.headers, json=sent or None
        )
        if role in allowed:
            assert response.status_code == CREATED.get(method, 200), (path, response.text)
        else:
            assert response.status_code == 403, (path, response.text)
            assert "lacks permission" in response.json()["error"]["message"]


async def test_a_principal_without_a_role_may_do_nothing(deck: Deck) -> None:
    nobody = await deck.member("nobody", None)
    me = await deck.api("GET", "/me", nobody.headers)
    assert me["permissions"] == []
    assert (await deck.chat("fake-a", nobody.headers)).status_code == 403
    assert await _models(deck, nobody.headers) == []
    await deck.api("GET", "/users", nobody.headers, expect=403)
    await deck.api("POST", "/keys", nobody.headers, {}, expect=403)


async def _fake_user(deck: Deck, name: str, **key_fields: object) -> Member:
    roles = await deck.api("GET", "/roles")
    if not any(row["name"] == "fake-user" for row in roles):
        made = await deck.api(
            "POST",
            "/roles",
            json={
                "name": "fake-user",
                "permissions": ["models:use"],
                "resources": {"models": ["fake-*"]},
            },
            expect=201,
        )
        assert made["resources"] == {"models": ["fake-*"]}
    return await deck.member(name, "fake-user", **key_fields)


async def test_a_custom_role_covers_only_its_model_patterns(deck: Deck) -> None:
    member = await _fake_user(deck, "carl")
    for alias, status in (("fake-a", 200), ("fake-b", 200), ("other", 403), ("fake", 403)):
        assert (await deck.chat(alias, member.headers)).status_code == status, alias
    assert await _models(deck, member.headers) == ["fake-a", "fake-b"]
    developer = await deck.member("devi", "developer")
    assert await _models(deck, developer.headers) == ["fake", "fake-a", "fake-b", "other"]
    me = await deck.api("GET", "/me", member.headers)
    assert me["permissions"] == ["models:use"]
    await deck.api("GET", "/users", member.headers, expect=403)


async def test_a_keys_allowed_models_narrow_and_never_widen(deck: Deck) -> None:
    narrow = await _fake_user(deck, "nina", allowed_models=["fake-a"])
    for alias, status in (("fake-a", 200), ("fake-b", 403), ("other", 403)):
        assert (await deck.chat(alias, narrow.headers)).status_code == status, alias
    assert await _models(deck, narrow.headers) == ["fake-a"]
    wide = await _fake_user(deck, "walt", allowed_models=["other", "fake-*"])
    assert (await deck.chat("other", wide.headers)).status_code == 403
    assert (await deck.chat("fake-b", wide.headers)).status_code == 200
    assert await _models(deck, wide.headers) == ["fake-a", "fake-b"]
    owner_key = await deck.api("POST", "/keys", json={"allowed_models": ["other"]}, expect=201)
    assert (await deck.chat("other", bearer(owner_key["key"]))).status_code == 200
    assert (await deck.chat("fake-a", bearer(owner_key["key"]))).status_code == 403


async def test_a_rotated_key_keeps_its_narrowing(deck: Deck) -> None:
    narrow = await _fake_user(deck, "rosa", allowed_models=["fake-b"])
    rotated = await deck.api(
        "POST", f"/keys/{narrow.key_id}/rotate", json={"overlap_s": 0}, expect=201
    )
    assert rotated["allowed_models"] == ["fake-b"]
    assert (await deck.chat("fake-b", bearer(rotated["key"]))).status_code == 200
    assert (await deck.chat("fake-a", bearer(rotated["key"]))).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "x", "permissions": ["models:fly"]}, 400, "unknown permissions: models:fly"),
        ({"name": "admin", "permissions": []}, 400, "'admin' is a built-in role"),
        ({"name": "x", "permissions": [], "resources": {"planets": ["*"]}}, 400, "not planets"),
        ({"name": "", "permissions": []}, 400, "name"),
    ],
)
async def test_bad_custom_roles_are_refused(
    deck: Deck, body: dict[str, object], status: int, fragment: str
) -> None:
    refused = await deck.api("POST", "/roles", json=body, expect=status)
    assert fragment in refused["error"]["message"]


async def test_binding_an_unknown_role_or_twice_is_refused(deck: Deck) -> None:
    user = await deck.api("POST", "/users", json={"name": "bo"}, expect=201)
    missing = await deck.api(
        "POST", "/role-bindings", expect=404, json={"principal_id": user["id"], "role": "wizard"}
    )
    assert missing["error"]["message"] == "no role 'wizard'"
    bind = {"principal_id": user["id"], "role": "viewer"}
    await deck.api("POST", "/role-bindings", json=bind, expect=201)
    await deck.api("POST", "/role-bindings", json=bind, expect=409)


async def test_a_project_binding_holds_in_that_project_only(deck: Deck) -> None:
    project = await deck.api("POST", "/projects", json={"slug": "side"}, expect=201)
    inside = await deck.member("pam", "developer", bind_in=project["id"], project_id=project["id"])
    assert (await deck.chat("fake-a", inside.headers)).status_code == 200
    outside = await deck.api(
        "POST", "/keys", json={"principal_id": inside.principal_id}, expect=201
    )
    assert (await deck.chat("fake-a", bearer(outside["key"]))).status_code == 403
    bindings = await deck.api("GET", "/role-bindings")
    mine = [b for b in bindings if b["principal_id"] == inside.principal_id]
    assert [(b["role"], b["project_id"]) for b in mine] == [("developer", project["id"])]
    await deck.api("DELETE", f"/role-bindings/{mine[0]['id']}", expect=204)
    assert (await deck.chat("fake-a", inside.headers)).status_code == 403


async def test_keys_own_lets_a_developer_manage_only_their_own_keys(deck: Deck) -> None:
    dev = await deck.member("dave", "developer")
    other = await deck.member("olive", "developer")
    mine = await deck.api("POST", "/keys", dev.headers, {"name": "laptop"}, expect=201)
    assert mine["principal_id"] == dev.principal_id
    assert (await deck.chat("fake-a", bearer(mine["key"]))).status_code == 200
    refused = await deck.api(
        "POST", "/keys", dev.headers, {"principal_id": other.principal_id}, expect=403
    )
    assert refused["error"]["message"] == "user:dave lacks permission 'keys:manage'"
    listed = await deck.api("GET", "/keys", dev.headers)
    assert sorted(k["id"] for k in listed) == sorted([dev.key_id, mine["id"]])
    assert all("hash" not in k and "key" not in k for k in listed)
    await deck.api("GET", f"/keys/{other.key_id}", dev.headers, expect=403)
    await deck.api("POST", f"/keys/{other.key_id}/rotate", dev.headers, {}, expect=403)
    await deck.api("DELETE", f"/keys/{other.key_id}", dev.headers, expect=403)
    assert (await deck.chat("fake-a", other.headers)).status_code == 200
    rotated = await deck.api(
        "POST", f"/keys/{mine['id']}/rotate", dev.headers, {"overlap_s": 0}, expect=201
    )
    assert (await deck.chat("fake-a", bearer(rotated["key"]))).status_code == 200
    await deck.api("DELETE", f"/keys/{rotated['id']}", dev.headers)
    assert (await deck.chat("fake-a", bearer(rotated["key"]))).status_code == 401
    everything = await deck.api("GET", "/keys")
    assert {dev.key_id, other.key_id, mine["id"], rotated["id"]} <= {k["id"] for k in everything}


async def test_a_viewer_may_not_even_make_own_keys(deck: Deck) -> None:
    viewer = await deck.member("vic", "viewer")
    refused = await deck.api("POST", "/keys", viewer.headers, {}, expect=403)
    assert refused["error"]["message"] == "user:vic lacks permission 'keys:manage'"
    assert await deck.api("GET", "/keys", viewer.headers) == [
        await deck.api("GET", f"/keys/{viewer.key_id}")
    ]


async def test_roles_manage_cannot_hand_out_more_than_the_caller_holds(deck: Deck) -> None:
    admin = await deck.member("ada", "admin")
    me = await deck.api("GET", "/me", admin.headers)
    refused = await deck.api(
        "POST",
        "/role-bindings",
        admin.headers,
        {"principal_id": admin.principal_id, "role": "owner"},
        expect=403,
    )
    assert refused["error"]["message"] == "user:ada lacks permission 'tenants:manage'"
    await deck.api(
        "POST",
        "/roles",
        admin.headers,
        {"name": "maker", "permissions": ["tenants:manage"]},
        expect=403,
    )
    await deck.api("POST", "/tenants", admin.headers, {"slug": "by-ada"}, expect=403)
    assert (await deck.api("GET", "/me", admin.headers))["permissions"] == me["permissions"]
    viewer = await deck.member("val", "viewer")
    bound = await deck.api(
        "POST",
        "/role-bindings",
        admin.headers,
        {"principal_id": viewer.principal_id, "role": "admin"},
        expect=201,
    )
    assert bound["role"] == "admin"
    made = await deck.api(
        "POST",
        "/roles",
        admin.headers,
        {"name": "user-maker", "permissions": ["users:manage"]},
        expect=201,
    )
    assert made["permissions"] == ["users:manage"]
    owner_made = await deck.api(
        "POST",
        "/role-bindings",
        json={"principal_id": admin.principal_id, "role": "owner"},
        expect=201,
    )
    assert owner_made["role"] == "owner"


async def test_an_admin_cannot_disable_or_demote_an_owner(deck: Deck) -> None:
    admin = await deck.member("adam", "admin")
    owner = await deck.member("otto", "owner")
    dev = await deck.member("dina", "developer")
    refused = await deck.api(
        "PATCH", f"/principals/{owner.principal_id}", admin.headers, {"disabled": True}, 403
    )
    assert refused["error"]["message"] == "user:adam lacks permission 'tenants:manage'"
    bindings = await deck.api("GET", "/role-bindings")
    owner_binding = next(b for b in bindings if b["principal_id"] == owner.principal_id)
    await deck.api("DELETE", f"/role-bindings/{owner_binding['id']}", admin.headers, None, 403)
    assert (await deck.chat("fake-a", owner.headers)).status_code == 200
    # Within their own powers an admin acts as before; an owner may act on an admin.
    await deck.api("PATCH", f"/principals/{dev.principal_id}", admin.headers, {"disabled": True})
    assert (await deck.chat("fake-a", dev.headers)).status_code == 401
    await deck.api("PATCH", f"/principals/{admin.principal_id}", owner.headers, {"disabled": True})
    assert (await deck.chat("fake-a", admin.headers)).status_code == 401
    await deck.api(
        "DELETE", f"/role-bindings/{owner_binding['id']}", owner.headers, None, 204
    )  # one owner may demote another


async def test_nobody_can_disable_themselves(deck: Deck) -> None:
    owner = await deck.member("solo", "owner")
    refused = await deck.api(
        "PATCH", f"/principals/{owner.principal_id}", owner.headers, {"disabled": True}, 409
    )
    assert "cannot disable or enable yourself" in refused["error"]["message"]
    assert (await deck.chat("fake-a", owner.headers)).status_code == 200
    missing = await deck.api(
        "PATCH", "/principals/prn_nope", owner.headers, {"disabled": True}, 404
    )
    assert "prn_nope" in missing["error"]["message"]


async def test_without_keys_manage_unknown_and_foreign_keys_look_the_same(deck: Deck) -> None:
    dev = await deck.member("dora", "developer")
    other = await deck.member("odin", "developer")
    for key_id in (other.key_id, "key_doesnotexist"):
        for method, path, body in (
            ("GET", f"/keys/{key_id}", None),
            ("POST", f"/keys/{key_id}/rotate", {}),
            ("DELETE", f"/keys/{key_id}", None),
        ):
            refused = await deck.api(method, path, dev.headers, body, 403)
            assert refused["error"]["message"] == "user:dora lacks permission 'keys:manage'"
    await deck.api("GET", "/keys/key_doesnotexist", None, None, 404)  # an owner sees the truth
