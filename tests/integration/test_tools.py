"""Tools as an operator runs them: a real server that requires keys, tools calling a real HTTP
upstream on loopback, `agentdeck tools test` in CI (a table, exit 1 when a tool fails its
examples), and a high-risk call approved with `agentdeck approvals` by another person."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agentdeck.identity.keys import new_key
from tests.conftest import owner_bootstrap
from tests.integration._support import AGENTDECK, ServerProcess, clean_env, start_gateway

OWNER_KEY = new_key("test")
KEY_ENV = "CLI_TOOLS_TEST_OWNER_KEY"
HITS: list[str] = []


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        HITS.append(self.path)
        if self.path.startswith("/weather/"):
            body, status = json.dumps({"city": self.path.split("/")[2]}).encode(), 200
        else:
            body, status = b"boom", 500
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A threaded HTTP tool server on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with identity on and the owner key installed."""
    os.environ[KEY_ENV] = OWNER_KEY
    workdir = tmp_path_factory.mktemp("tools")
    proc = start_gateway(workdir, {"identity": owner_bootstrap(KEY_ENV)}, name="tools")
    try:
        proc.wait_ready()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()
        del os.environ[KEY_ENV]


def _cli(
    server: ServerProcess, *args: str, key: str = OWNER_KEY
) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "AGENTDECK_URL": server.url, "AGENTDECK_API_KEY": key, "COLUMNS": "200"}
    return subprocess.run(
        [*AGENTDECK, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _api(server: ServerProcess, method: str, path: str, key: str = OWNER_KEY, **kw: Any) -> Any:
    response = httpx.request(
        method, f"{server.url}/api/v1{path}", headers={"authorization": f"Bearer {key}"}, **kw
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _tool(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "implementation": {"kind": "http", "method": "GET", "url": url},
        "examples": [{"arguments": {"city": "Paris"},
                      "result_schema": {"type": "object", "required": ["city"]}}],
        **fields,
    }  # fmt: skip


def test_tools_test_prints_a_table_and_fails_on_a_broken_tool(
    server: ServerProcess, upstream: str
) -> None:
    _api(server, "PUT", "/tools/weather", json=_tool(f"{upstream}/weather/{{city}}"))
    _api(server, "PUT", "/tools/broken", json=_tool(f"{upstream}/fail"))
    _api(server, "PUT", "/tools/wire", json=_tool(f"{upstream}/weather/{{city}}", risk="high"))
    every = _cli(server, "tools", "test")
    assert every.returncode == 1, every.stdout + every.stderr
    lines = {line.split()[1]: line for line in every.stdout.splitlines() if "│" in line[:3]}
    assert "pass" in lines["weather"]
    assert "FAIL" in lines["broken"]
    assert "upstream_error" in lines["broken"]
    assert "skip" in lines["wire"]
    assert "high-risk" in lines["wire"]
    assert "1 passed, 1 failed, 1 skipped" in every.stdout
    one = _cli(server, "tools", "test", "weather")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 passed, 0 failed, 0 skipped" in one.stdout
    listed = _cli(server, "tools", "list")
    assert listed.returncode == 0
    assert "broken" in listed.stdout


def test_a_high_risk_call_is_approved_with_the_cli(server: ServerProcess, upstream: str) -> None:
    _api(server, "PUT", "/tools/wire2", json=_tool(f"{upstream}/weather/{{city}}", risk="high"))
    user = _api(server, "POST", "/users", json={"name": "runner"})
    _api(server, "POST", "/role-bindings", json={"principal_id": user["id"], "role": "developer"})
    key = _api(server, "POST", "/keys", json={"principal_id": user["id"]})["key"]
    call = {"arguments": {"city": "Rome"}, "run_id": "run-1"}
    asked = _api(server, "POST", "/tools/wire2/call", key, json=call)
    approval = asked["approval_id"]
    assert asked["error"]["type"] == "approval_required"
    before = len(HITS)
    listed = _cli(server, "approvals", "list")
    assert listed.returncode == 0
    assert approval in listed.stdout
    assert "wire2" in listed.stdout
    refused = _cli(server, "approvals", "approve", approval, key=key)  # a developer
    assert refused.returncode == 1
    assert "tools:approve" in refused.stderr
    approved = _cli(server, "approvals", "approve", approval, "--reason", "looks right")
    assert approved.returncode == 0, approved.stderr
    assert f"{approval} approved" in approved.stdout
    done = _api(server, "POST", "/tools/wire2/call", key, json={**call, "approval_id": approval})
    assert done == {"ok": True, "result": {"city": "Rome"}}
    assert len(HITS) == before + 1
    again = _cli(server, "approvals", "deny", approval)
    assert again.returncode == 1
    assert "not pending" in again.stderr
