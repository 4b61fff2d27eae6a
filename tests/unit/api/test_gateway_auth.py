"""Gateway authentication with identity on: missing, malformed, unknown, revoked, expired,
rotated and disabled keys; and development mode with identity off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentdeck.identity.keys import new_key
from tests.unit.api._deck import MSG, OWNER_KEY, Deck, bearer

ANTHROPIC_BODY = {"model": "fake-a", "max_tokens": 16, "messages": MSG}
CHAT_BODY = {"model": "fake-a", "messages": MSG}


def _bad_checksum(key: str) -> str:
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


async def test_chat_without_a_key_is_401_in_the_openai_shape(deck: Deck) -> None:
    response = await deck.client.post("/v1/chat/completions", json=CHAT_BODY)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("missing API key")
    assert set(response.json()) == {"error"}


async def test_messages_without_a_key_is_401_in_the_anthropic_shape(deck: Deck) -> None:
    response = await deck.client.post("/v1/messages", json=ANTHROPIC_BODY)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["message"].startswith("missing API key")


async def test_models_and_admin_api_need_a_key_too(deck: Deck) -> None:
    assert (await deck.client.get("/v1/models")).status_code == 401
    me = await deck.client.get("/api/v1/me")
    assert me.status_code == 401
    assert me.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("sk-proj-abc123", "malformed API key"),
        ("ad_test_short_abcdef", "malformed API key"),
        (OWNER_KEY + "x", "malformed API key"),
        (_bad_checksum(OWNER_KEY), "checksum does not match"),
        (new_key("test"), "unknown API key ad_test_"),
    ],
    ids=["foreign", "short", "too-long", "bad-checksum", "unknown"],
)
@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
async def test_bad_keys_are_401_naming_the_problem(
    deck: Deck, key: str, fragment: str, header: str
) -> None:
    headers = bearer(key) if header == "authorization" else {"x-api-key": key}
    chat = await deck.client.post("/v1/chat/completions", json=CHAT_BODY, headers=headers)
    assert chat.status_code == 401
    assert fragment in chat.json()["error"]["message"]
    messages = await deck.client.post("/v1/messages", json=ANTHROPIC_BODY, headers=headers)
    assert messages.status_code == 401
    assert fragment in messages.json()["error"]["message"]
    admin = await deck.client.get("/api/v1/me", headers=headers)
    assert admin.status_code == 401
    assert fragment in admin.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {OWNER_KEY}"},
        {"authorization": f"bearer {OWNER_KEY}"},
        {"x-api-key": OWNER_KEY},
        {"authorization": "Basic Zm9vOmJhcg==", "x-api-key": OWNER_KEY},
    ],
    ids=["bearer", "lower-case-scheme", "x-api-key", "x-api-key-beside-basic"],
)
async def test_the_key_is_taken_from_either_header(deck: Deck, headers: dict[str, str]) -> None:
    chat = await deck.client.post("/v1/chat/completions", json=CHAT_BODY, headers=headers)
    assert chat.status_code == 200
    assert chat.json()["choices"][0]["message"]["content"]
    messages = await deck.client.post("/v1/messages", json=ANTHROPIC_BODY, headers=headers)
    assert messages.status_code == 200
    assert messages.json()["type"] == "message"
    me = await deck.client.get("/api/v1/me", headers=headers)
    assert me.json()["principal"] == "user:owner"


async def test_a_revoked_key_is_refused_at_once(deck: Deck) -> None:
    dev = await deck.member("dana", "developer")
    assert (await deck.chat("fake-a", dev.headers)).status_code == 200
    revoked = await deck.api("DELETE", f"/keys/{dev.key_id}")
    assert revoked["revoked_at"] is not None
    refused = await deck.chat("fake-a", dev.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"].startswith("API key revoked: ad_test_")
    messages = await deck.client.post("/v1/messages", json=ANTHROPIC_BODY, headers=dev.headers)
    assert messages.status_code == 401
    assert (await deck.client.get("/api/v1/me", headers=dev.headers)).status_code == 401
    again = await deck.api("DELETE", f"/keys/{dev.key_id}")
    assert again["revoked_at"] == revoked["revoked_at"]  # revoking twice keeps the first time


async def test_an_expired_key_is_refused_and_a_future_one_works(deck: Deck) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    old = await deck.member("olga", "developer", expires_at=past)
    refused = await deck.chat("fake-a", old.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"].startswith("API key expired")
    fresh = await deck.member("fred", "developer", expires_at=future)
    assert (await deck.chat("fake-a", fresh.headers)).status_code == 200


async def test_rotation_keeps_the_old_key_for_the_overlap_only(deck: Deck) -> None:
    dev = await deck.member("rita", "developer")
    second = await deck.api(
        "POST", f"/keys/{dev.key_id}/rotate", json={"overlap_s": 600}, expect=201
    )
    assert second["id"] != dev.key_id
    assert second["principal_id"] == dev.principal_id
    for key in (dev.key, second["key"]):
        assert (await deck.chat("fake-a", bearer(key))).status_code == 200
    first = await deck.api("GET", f"/keys/{dev.key_id}")
    assert first["replaced_by"] == second["id"]
    assert first["revoked_at"] is None
    third = await deck.api(
        "POST", f"/keys/{second['id']}/rotate", json={"overlap_s": 0}, expect=201
    )
    stopped = await deck.chat("fake-a", bearer(second["key"]))
    assert stopped.status_code == 401
    assert "expired" in stopped.json()["error"]["message"]
    assert (await deck.chat("fake-a", bearer(third["key"]))).status_code == 200
    assert (await deck.chat("fake-a", bearer(dev.key))).status_code == 200  # still overlapping


async def test_rotation_refuses_a_revoked_key_and_a_negative_overlap(deck: Deck) -> None:
    dev = await deck.member("rolf", "developer")
    bad = await deck.api("POST", f"/keys/{dev.key_id}/rotate", json={"overlap_s": -1}, expect=400)
    assert bad["error"]["param"] == "overlap_s"
    await deck.api("DELETE", f"/keys/{dev.key_id}")
    refused = await deck.api("POST", f"/keys/{dev.key_id}/rotate", json={}, expect=400)
    assert "is revoked" in refused["error"]["message"]


async def test_a_disabled_principal_loses_every_key_until_enabled(deck: Deck) -> None:
    dev = await deck.member("dora", "developer")
    extra = await deck.api("POST", "/keys", json={"principal_id": dev.principal_id}, expect=201)
    changed = await deck.api("PATCH", f"/principals/{dev.principal_id}", json={"disabled": True})
    assert changed["disabled"] is True
    for key in (dev.key, extra["key"]):
        refused = await deck.chat("fake-a", bearer(key))
        assert refused.status_code == 401
        assert refused.json()["error"]["message"].startswith("user 'dora' is disabled")
        assert (await deck.client.get("/api/v1/me", headers=bearer(key))).status_code == 401
    await deck.api("PATCH", f"/principals/{dev.principal_id}", json={"disabled": False})
    assert (await deck.chat("fake-a", dev.headers)).status_code == 200


async def test_patching_a_principal_takes_only_a_boolean(deck: Deck) -> None:
    dev = await deck.member("pia", "developer")
    for body in ({"disabled": "yes"}, {}, {"disabled": True, "name": "x"}):
        await deck.api("PATCH", f"/principals/{dev.principal_id}", json=body, expect=400)
    assert (await deck.chat("fake-a", dev.headers)).status_code == 200


async def _dev_deck(open_deck: Any) -> Deck:
    found: Deck = await open_deck(identity={})
    return found


async def test_development_mode_serves_keyless_calls_as_the_dev_owner(open_deck: Any) -> None:
    dev = await _dev_deck(open_deck)
    chat = await dev.client.post("/v1/chat/completions", json=CHAT_BODY)
    assert chat.status_code == 200
    messages = await dev.client.post("/v1/messages", json=ANTHROPIC_BODY)
    assert messages.status_code == 200
    me = (await dev.client.get("/api/v1/me")).json()
    assert me["principal"] == "user:dev"
    assert me["tenant"] == "default"
    assert me["key_id"] == "dev"
    assert "tenants:manage" in me["permissions"]


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
async def test_development_mode_ignores_a_foreign_key(open_deck: Any, header: str) -> None:
    dev = await _dev_deck(open_deck)
    headers = bearer("sk-upstream-1234") if header == "authorization" else {"x-api-key": "sk-1"}
    chat = await dev.client.post("/v1/chat/completions", json=CHAT_BODY, headers=headers)
    assert chat.status_code == 200
    me = (await dev.client.get("/api/v1/me", headers=headers)).json()
    assert me["principal"] == "user:dev"


async def test_development_mode_still_checks_agentdeck_keys(open_deck: Any) -> None:
    dev = await _dev_deck(open_deck)
    for key, fragment in ((_bad_checksum(OWNER_KEY), "checksum"), (OWNER_KEY, "unknown")):
        response = await dev.client.post(
            "/v1/chat/completions", json=CHAT_BODY, headers=bearer(key)
        )
        assert response.status_code == 401
        assert fragment in response.json()["error"]["message"]
