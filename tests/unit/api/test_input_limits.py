"""Input the store cannot hold is a 400 naming the field, on SQLite and PostgreSQL alike: NUL
characters, text longer than its column, integers past 64 bits, overlaps past any date; and a
refused call with a very long path is still audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api._deck import Deck

BIG = 2**63


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("POST", "/users", {"name": "a\x00b"}, "NUL"),
        ("POST", "/service-accounts", {"name": "robot", "email": "r\x00@x"}, "NUL"),
        ("POST", "/roles", {"name": "r", "permissions": [], "resources": {"models": ["\x00"]}},
         "NUL"),
        ("POST", "/keys", {"name": "k\x00"}, "NUL"),
        ("POST", "/tenants", {"slug": "t-nul", "name": "n\x00"}, "NUL"),
        ("PUT", "/credentials/c", {"value": "v\x00"}, "NUL"),
        ("POST", "/projects", {"slug": "long", "name": "n" * 201}, "name"),
        ("POST", "/tenants", {"slug": "t-long", "name": "n" * 201}, "name"),
        ("POST", "/users", {"name": "e", "email": "e" * 321}, "email"),
        ("PUT", "/limits", {"scope_kind": "tenant", "scope_id": "x", "metric": "requests",
                            "amount": BIG}, "amount"),
    ],
)  # fmt: skip
async def test_unstorable_bodies_are_400(
    store_deck: Deck, method: str, path: str, body: dict[str, Any], fragment: str
) -> None:
    refused = await store_deck.api(method, path, json=body, expect=400)
    assert fragment in refused["error"]["message"]
    assert refused["error"]["type"] == "invalid_request_error"


async def test_unstorable_paths_queries_and_numbers_are_400(store_deck: Deck) -> None:
    deck = store_deck
    for path in ("/principals/a%00b", "/keys/k%00", "/credentials/c%00"):
        response = await deck.client.get(f"/api/v1{path}", headers=deck.owner)
        assert response.status_code in (400, 405), path
    nul = await deck.client.get("/api/v1/principals/a%00b", headers=deck.owner)
    assert "NUL" in nul.json()["error"]["message"]
    for params in ({"action": "a\x00"}, {"after": str(BIG)}, {"after": "-1"}):
        response = await deck.client.get("/api/v1/audit", params=params, headers=deck.owner)
        assert response.status_code == 400, params
    member = await deck.member("kim", "developer")
    too_long = await deck.api("POST", f"/keys/{member.key_id}/rotate",
                              json={"overlap_s": 10**12}, expect=400)  # fmt: skip
    assert too_long["error"]["param"] == "overlap_s"
    ten_years = await deck.api("POST", f"/keys/{member.key_id}/rotate",
                               json={"overlap_s": 10 * 365 * 86_400}, expect=201)  # fmt: skip
    assert ten_years["principal_id"] == member.principal_id


async def test_a_refused_call_with_a_huge_path_is_still_audited(store_deck: Deck) -> None:
    deck = store_deck
    viewer = await deck.member("vik", "viewer")
    for path in ("/api/v1/keys/" + "k" * 500, "/api/v1/credentials/" + "c" * 500):
        refused = await deck.client.delete(path, headers=viewer.headers)
        assert refused.status_code == 403
        event = await deck.wait_for_event(
            deck.owner, "api.denied", {"request_id": refused.headers["x-agentdeck-request-id"]}
        )
        assert event["resource"] == f"DELETE {path}"[:300]
    later = await deck.client.post("/api/v1/users", json={"name": "x"}, headers=viewer.headers)
    await deck.wait_for_event(
        deck.owner, "api.denied", {"request_id": later.headers["x-agentdeck-request-id"]}
    )
    assert (await deck.api("GET", "/audit/verify"))["ok"] is True
