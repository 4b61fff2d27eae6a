"""`/mcp/{name}` in process, spoken to with the real `mcp` client: virtual servers over a
stdio and a Streamable HTTP upstream, keys, allowlists, the executor's results and errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from starlette.routing import Mount

from tests.conftest import free_port
from tests.unit.api._deck import Deck, bearer
from tests.unit.mcp._upstreams import http_upstream, start_http_upstream, stdio_upstream, stop

DeckFactory = Callable[..., Any]


@pytest.fixture
def web() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_http_upstream(port)
    yield port, process
    stop(process)


def _mcp_settings(port: int) -> dict[str, Any]:
    return {
        "upstreams": {
            "local": stdio_upstream(),
            "web": http_upstream(port, headers={"X-Upstream": "1"}),
            "risky": stdio_upstream("risky", risk="high"),
        },
        "virtual_servers": {
            "team": {
                "tools": [
                    {"upstream": "local"},
                    {"upstream": "web", "tool": "echo", "alias": "say"},
                    {"upstream": "web", "tool": "fail"},
                    {"upstream": "web", "tool": "grow"},
                    {"upstream": "risky", "tool": "delete_everything"},
                ],
                "registry_tools": ["shout"],
            },
            "elsewhere": {"projects": ["proj_none"], "tools": [{"upstream": "web"}]},
        },
        "health_interval_s": 0.3,
        "reconnect_max_backoff_s": 0.5,
    }


@pytest.fixture
async def app_deck(
    open_deck: DeckFactory, web: tuple[int, subprocess.Popen[bytes]]
) -> tuple[Deck, Any]:
    deck: Deck = await open_deck(mcp=_mcp_settings(web[0]))
    transport = deck.client._transport  # the in-process app behind the admin client
    app = transport.app  # type: ignore[attr-defined]
    gateway = next(r for r in app.routes if getattr(r, "path", "") == "/mcp").endpoint.__self__
    await gateway.upstreams.wait_connected(20)
    return deck, app


@asynccontextmanager
async def _client(
    app: Any, server: str, key: str | None, mode: str = "auto"
) -> AsyncIterator[Client]:
    headers = bearer(key) if key is not None else {}
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), headers=headers, base_url="http://agentdeck.test"
    )
    async with http, Client(
        streamable_http_client(f"http://agentdeck.test/mcp/{server}", http_client=http),
        cache=None,
        read_timeout_seconds=60,  # a request that is never answered fails the test
        mode=mode,
    ) as client:  # fmt: skip
        yield client


def _structured(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None
    found: dict[str, Any] = result.structured_content
    assert json.loads(result.content[0].text) == found
    return found


async def test_lists_namespaced_tools_of_both_upstreams_and_calls_them(
    app_deck: tuple[Deck, Any],
) -> None:
    deck, app = app_deck
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert names == [
            "local__add", "local__delete_everything", "local__echo", "local__fail",
            "local__grow", "risky__delete_everything", "say", "web__fail", "web__grow",
        ]  # fmt: skip
        added = await client.call_tool("local__add", {"a": 20, "b": 22})
        assert added.is_error is False
        assert added.structured_content == {"result": 42}
        said = await client.call_tool("say", {"text": "hello"})
        assert said.structured_content == {"result": "web: hello"}


async def test_an_upstream_error_is_an_is_error_result_with_the_structured_error(
    app_deck: tuple[Deck, Any],
) -> None:
    deck, app = app_deck
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        failed = await client.call_tool("web__fail", {"reason": "disk full"})
        assert failed.is_error is True
        error = _structured(failed)
        assert error["ok"] is False
        assert error["error"]["type"] == "upstream_error"
        assert "refused: disk full" in error["error"]["message"]
        invalid = await client.call_tool("local__add", {"a": "x"})
        assert invalid.is_error is True
        assert _structured(invalid)["error"]["type"] == "invalid_arguments"
        missing = await client.call_tool("nope", {})
        assert _structured(missing)["error"]["type"] == "not_found"


async def test_a_high_risk_upstream_tool_asks_for_approval(app_deck: tuple[Deck, Any]) -> None:
    deck, app = app_deck
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        asked = await client.call_tool("risky__delete_everything", {"confirm": True})
        assert asked.is_error is True
        body = _structured(asked)
        assert body["error"]["type"] == "approval_required"
        approval_id = body["approval_id"]
        low = await client.call_tool("local__delete_everything", {"confirm": False})
        assert low.structured_content == {"result": "kept"}
        approver = await deck.member("approver", "admin")
        path = f"/approvals/{approval_id}/approve"
        await deck.api("POST", path, approver.headers, {"reason": "ok"})
        meta: Any = {"agentdeck/approval_id": approval_id}
        done = await client.call_tool("risky__delete_everything", {"confirm": True}, meta=meta)
        assert done.is_error is False
        assert done.structured_content == {"result": "deleted"}
        again = await client.call_tool("risky__delete_everything", {"confirm": True}, meta=meta)
        assert _structured(again)["ok"] is False  # an approval is used once


async def test_listing_is_filtered_by_the_keys_allowlist(app_deck: tuple[Deck, Any]) -> None:
    deck, app = app_deck
    role = {"name": "echoer", "permissions": ["tools:execute"],
            "resources": {"tools": ["say", "local__a*"]}}  # fmt: skip
    await deck.api("POST", "/roles", json=role, expect=201)
    member = await deck.member("echo-only", "echoer")
    async with _client(app, "team", member.key) as client:
        assert sorted(t.name for t in (await client.list_tools()).tools) == ["local__add", "say"]
        refused = await client.call_tool("web__fail", {"reason": "x"})
        assert _structured(refused)["error"]["type"] == "not_allowed"
        assert (await client.call_tool("say", {"text": "ok"})).structured_content == {
            "result": "web: ok"
        }


async def test_keys_are_required_and_servers_are_scoped(app_deck: tuple[Deck, Any]) -> None:
    deck, app = app_deck
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://a.test")
    async with http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        anonymous = await http.post("/mcp/team", json=body)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.json()["error"]["code"] == "invalid_api_key"
        other = await http.post("/mcp/elsewhere", json=body, headers=deck.owner)
        assert other.status_code == 403
        unknown = await http.post("/mcp/nope", json=body, headers=deck.owner)
        assert unknown.status_code == 404
        overview = (await http.get("/mcp", headers=deck.owner)).json()
    assert [server["name"] for server in overview["servers"]] == ["team"]
    assert {row["name"]: row["status"] for row in overview["upstreams"]} == {
        "local": "up", "web": "up", "risky": "up"
    }  # fmt: skip
    refused: list[BaseException] = []
    try:
        async with _client(app, "team", None) as client:
            await client.list_tools()
    except* MCPError as group:  # the real client refused too (its task group wraps it)
        refused = list(group.exceptions)
    assert refused


async def test_a_down_upstream_gives_a_structured_error_and_shows_down(
    app_deck: tuple[Deck, Any], web: tuple[int, subprocess.Popen[bytes]]
) -> None:
    deck, app = app_deck
    stop(web[1])
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://a.test")
    async with http:
        for _ in range(200):
            overview = (await http.get("/mcp", headers=deck.owner)).json()
            states = {row["name"]: row for row in overview["upstreams"]}
            if states["web"]["status"] == "down":
                break
            await asyncio.sleep(0.05)
    assert states["web"]["status"] == "down"
    assert states["web"]["error"]
    assert states["local"]["status"] == "up"
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "say" not in names  # its upstream offers nothing while down
        assert "local__add" in names


async def test_a_tool_list_change_reaches_the_listing(app_deck: tuple[Deck, Any]) -> None:
    deck, app = app_deck
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        assert (await client.call_tool("local__grow", {})).structured_content == {"result": "grown"}
        for _ in range(200):
            names = {tool.name for tool in (await client.list_tools()).tools}
            if "local__fresh" in names:
                break
            await asyncio.sleep(0.05)
        assert "local__fresh" in names
        assert (await client.call_tool("local__fresh", {})).structured_content == {
            "result": "fresh"
        }


def test_routes_are_mounted(app_deck: tuple[Deck, Any]) -> None:
    _, app = app_deck
    paths = {getattr(route, "path", "") for route in app.routes if not isinstance(route, Mount)}
    assert {"/mcp", "/mcp/{name}"} <= paths


async def test_registry_tools_are_served_next_to_upstream_tools(
    app_deck: tuple[Deck, Any],
) -> None:
    deck, app = app_deck
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    spec = {"description": "Echo, registered in the tool registry", "input_schema": schema,
            "implementation": {"kind": "mcp", "server": "web", "tool": "echo"}}  # fmt: skip
    await deck.api("PUT", "/tools/shout", json=spec, expect=201)
    async with _client(app, "team", deck.owner["authorization"][7:]) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert listed["shout"].description == "Echo, registered in the tool registry"
        assert listed["shout"].input_schema == schema
        called = await client.call_tool("shout", {"text": "from the registry"})
        assert called.structured_content == {"result": "web: from the registry"}


async def test_a_handshake_era_client_is_served_too(app_deck: tuple[Deck, Any]) -> None:
    deck, app = app_deck
    async with _client(app, "team", deck.owner["authorization"][7:], mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        assert "say" in {tool.name for tool in (await client.list_tools()).tools}
        said = await client.call_tool("say", {"text": "old"})
        assert said.structured_content == {"result": "web: old"}
