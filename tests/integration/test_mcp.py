"""The MCP gateway in a real server process: two real upstream MCP servers written with the
`mcp` SDK (one started over stdio by agentdeck, one served over Streamable HTTP on loopback),
and the real `mcp` client against agentdeck's `/mcp/{name}`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

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
