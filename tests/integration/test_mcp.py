"""The MCP gateway in a real server process: two real upstream MCP servers written with the
`mcp` SDK (one started over stdio by agentdeck, one served over Streamable HTTP on loopback),
and the real `mcp` client against agentdeck's `/mcp/{name}`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agentdeck.identity.keys import new_key
from tests.conftest import owner_bootstrap
from tests.integration._support import ServerProcess, free_port, start_gateway
from tests.unit.mcp._upstreams import http_upstream, start_http_upstream, stdio_upstream, stop

OWNER_KEY = new_key("test")
KEY_ENV = "MCP_TEST_OWNER_KEY"  # not AGENTDECK_*: the server's environment keeps it


@pytest.fixture
def web_upstream() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_http_upstream(port)
    yield port, process
    stop(process)


@pytest.fixture
def gateway(
    workdir: Path,
    web_upstream: tuple[int, subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServerProcess]:
    monkeypatch.setenv(KEY_ENV, OWNER_KEY)
    config = {
        "identity": owner_bootstrap(KEY_ENV),
        "mcp": {
            "upstreams": {"local": stdio_upstream(), "web": http_upstream(web_upstream[0])},
            "virtual_servers": {
                "team": {
                    "tools": [
                        {"upstream": "local"},
                        {"upstream": "web", "tool": "fail"},
                        {"upstream": "web", "tool": "echo", "alias": "say"},
                    ]
                }
            },
        },
    }
    server = start_gateway(workdir, config, name="mcp-gateway")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _wait_up(server: ServerProcess) -> None:
    """Until both upstreams are connected (they connect in the background after start)."""
    deadline = time.monotonic() + 30
    while True:
        overview = httpx.get(f"{server.url}/mcp", headers=_auth(OWNER_KEY), timeout=5).json()
        if {row["name"]: row["status"] for row in overview["upstreams"]} == {
            "local": "up", "web": "up"
        }:  # fmt: skip
            return
        assert time.monotonic() < deadline, f"upstreams not up: {overview}"
        time.sleep(0.05)


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_the_real_client_lists_and_calls_through_agentdeck(gateway: ServerProcess) -> None:
    _wait_up(gateway)
    http = httpx2.AsyncClient(headers=_auth(OWNER_KEY))
    async with http, Client(
        streamable_http_client(f"{gateway.url}/mcp/team", http_client=http),
        cache=None,
        read_timeout_seconds=60,
    ) as client:  # fmt: skip
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert names == ["local__add", "local__delete_everything", "local__echo",
                         "local__fail", "local__grow", "say", "web__fail"]  # fmt: skip
        assert (await client.call_tool("local__add", {"a": 1, "b": 2})).structured_content == {
            "result": 3
        }
        said = await client.call_tool("say", {"text": "over http"})
        assert said.structured_content == {"result": "web: over http"}
        failed = await client.call_tool("web__fail", {"reason": "nope"})
        assert failed.is_error is True
        assert failed.structured_content is not None
        assert failed.structured_content["error"]["type"] == "upstream_error"
        assert "refused: nope" in failed.structured_content["error"]["message"]


def test_mcp_requires_a_key(gateway: ServerProcess) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(f"{gateway.url}/mcp/team", json=body, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def _api(server: ServerProcess, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method, f"{server.url}/api/v1{path}", headers=_auth(OWNER_KEY), timeout=10, **kw
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _developer_key(server: ServerProcess, name: str, team_id: str | None) -> str:
    user = _api(server, "POST", "/users", json={"name": name})
    _api(server, "POST", "/role-bindings", json={"principal_id": user["id"], "role": "developer"})
    if team_id is not None:
        _api(server, "PUT", f"/teams/{team_id}/members/{user['id']}")
    return str(_api(server, "POST", "/keys", json={"principal_id": user["id"]})["key"])


async def test_a_team_scoped_server_audits_every_call_and_reports_its_upstreams(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator creates a team, names it in a virtual server's `teams` and restarts: only
    the team's members may use the server; each call, run or refused, is in the audit log;
    /readyz and /metrics show the upstream."""
    monkeypatch.setenv(KEY_ENV, OWNER_KEY)
    identity = {"identity": owner_bootstrap(KEY_ENV)}
    setup = start_gateway(workdir, identity, name="setup")
    try:
        setup.wait_ready()
        project = _api(setup, "GET", "/projects")[0]["id"]
        team = _api(setup, "POST", "/teams", json={"project_id": project, "name": "ops"})["id"]
        member = _developer_key(setup, "ina", team)
        outsider = _developer_key(setup, "otto", None)
    finally:
        assert setup.stop() == 0, setup.log_text()
    virtual = {"ops": {"teams": [team], "tools": [{"upstream": "local"}]}}
    config = {**identity, "mcp": {"upstreams": {"local": stdio_upstream()},
                                  "virtual_servers": virtual}}  # fmt: skip
    server = start_gateway(workdir, config, name="scoped")
    try:
        server.wait_ready()
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"{server.url}/readyz", timeout=5).json())["mcp_upstreams"] != {
            "connecting": 0, "up": 1, "down": 0
        }:  # fmt: skip
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert ready["status"] == "ready"

        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        refused = httpx.post(f"{server.url}/mcp/ops", json=body, headers=_auth(outsider), timeout=5)
        assert refused.status_code == 403
        assert "teams" in refused.json()["error"]["message"]
        listing = httpx.get(f"{server.url}/mcp", headers=_auth(outsider), timeout=5).json()
        assert listing == {"servers": [], "upstreams": []}

        http = httpx2.AsyncClient(headers=_auth(member))
        async with http, Client(
            streamable_http_client(f"{server.url}/mcp/ops", http_client=http),
            cache=None, read_timeout_seconds=60,
        ) as client:  # fmt: skip
            added = await client.call_tool("local__add", {"a": 2, "b": 5})
            assert added.structured_content == {"result": 7}
            bad = await client.call_tool("local__add", {"a": "two", "b": 5})
            assert bad.is_error is True
            assert bad.structured_content is not None
            assert bad.structured_content["error"]["type"] == "invalid_arguments"
            ghost = await client.call_tool("local__ghost", {})
            assert ghost.is_error is True
            assert ghost.structured_content is not None
            assert ghost.structured_content["error"]["type"] == "not_found"

        deadline = time.monotonic() + 10
        while True:  # the audit queue writes in the background
            events = _api(server, "GET", "/audit", params={"limit": 1000})["events"]
            calls = [(e["action"], e["resource"]) for e in events
                     if e["action"].startswith("tool.call.")]  # fmt: skip
            denied = [e["resource"] for e in events if e["action"] == "mcp.denied"]
            if (len(calls) >= 3 and denied) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert calls == [("tool.call.ok", "tool/local__add"),
                         ("tool.call.invalid_arguments", "tool/local__add"),
                         ("tool.call.not_found", "tool/local__ghost")]  # fmt: skip
        assert denied == ["mcp/ops"]  # the outsider turned away
        assert _api(server, "GET", "/audit/verify")["ok"] is True

        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        assert 'agentdeck_mcp_upstream_up{upstream="local"} 1.0' in metrics
        assert 'agentdeck_mcp_upstream_tools{upstream="local"} 5.0' in metrics
        assert 'agentdeck_tool_calls_total{outcome="ok"} 1.0' in metrics
        assert 'agentdeck_tool_calls_total{outcome="invalid_arguments"} 1.0' in metrics
        assert 'agentdeck_tool_calls_total{outcome="not_found"} 1.0' in metrics
    finally:
        assert server.stop() == 0, server.log_text()
