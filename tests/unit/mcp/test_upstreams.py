"""The upstream manager and backend against real MCP servers over stdio and Streamable HTTP:
discovery, calls, tool errors, change notifications, a server going down and coming back."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from agentdeck.mcp.backend import UpstreamBackend
from agentdeck.mcp.upstreams import Upstreams
from agentdeck.settings_mcp import McpSettings
from agentdeck.tools.mcp_backend import McpToolFailed
from tests.conftest import free_port
from tests.unit.mcp._upstreams import http_upstream, start_http_upstream, stdio_upstream, stop

TOOLS = ["add", "delete_everything", "echo", "fail", "grow"]


async def _no_secret(name: str) -> str | None:
    return {"web-token": "s3cret"}.get(name)


@pytest.fixture
def http_port() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_http_upstream(port)
    yield port, process
    stop(process)


@pytest.fixture
async def upstreams(http_port: tuple[int, subprocess.Popen[bytes]]) -> AsyncIterator[Upstreams]:
    settings = McpSettings(
        upstreams={"local": stdio_upstream(), "web": http_upstream(http_port[0])},
        health_interval_s=0.3,
        reconnect_max_backoff_s=0.5,
    )
    found = Upstreams(settings, _no_secret, lambda name: None)
    await found.start()
    await found.wait_connected(20)
    yield found
    await found.stop()


async def _until(check: object, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_discovers_tools_resources_and_prompts_over_both_transports(
    upstreams: Upstreams,
) -> None:
    health = {row["name"]: row for row in upstreams.health()}
    assert health["local"]["status"] == health["web"]["status"] == "up"
    assert health["local"]["server"] == "local"
    assert health["web"]["server"] == "web"
    assert health["web"]["protocol_version"] == "2026-07-28"
    for name in ("local", "web"):
        offer = upstreams.by_name[name].offer
        assert sorted(offer.tools) == TOOLS
        assert [str(r.uri) for r in offer.resources] == ["note://hello"]
        assert [p.name for p in offer.prompts] == ["greet"]
        assert offer.tools["add"].input_schema["required"] == ["a", "b"]


async def test_calls_return_structured_results_and_errors_raise(upstreams: Upstreams) -> None:
    backend = UpstreamBackend(upstreams)
    assert await backend.call_tool("local", "add", {"a": 2, "b": 40}, 5) == {"result": 42}
    assert await backend.call_tool("web", "echo", {"text": "hi"}, 5) == {"result": "web: hi"}
    with pytest.raises(McpToolFailed) as failed:
        await backend.call_tool("web", "fail", {"reason": "no way"}, 5)
    assert "refused: no way" in failed.value.message
    assert failed.value.retriable is False
    with pytest.raises(McpToolFailed, match="no MCP upstream named 'nope'"):
        await backend.call_tool("nope", "add", {}, 5)


async def test_a_tool_list_change_is_picked_up(upstreams: Upstreams) -> None:
    changed: list[str] = []
    upstreams.on_change(changed.append)
    backend = UpstreamBackend(upstreams)
    for name in ("local", "web"):
        assert await backend.call_tool(name, "grow", {}, 5) == {"result": "grown"}
    # announced by the upstreams (subscriptions/listen), long before the 300 s refresh
    await _until(lambda: all("fresh" in u.offer.tools for u in upstreams.by_name.values()))
    assert sorted(changed) == ["local", "web"]
    assert await backend.call_tool("web", "fresh", {}, 5) == {"result": "fresh"}


async def test_an_upstream_that_goes_down_is_shown_down_and_calls_fail_retriably(
    upstreams: Upstreams, http_port: tuple[int, subprocess.Popen[bytes]]
) -> None:
    stop(http_port[1])
    web = upstreams.by_name["web"]
    await _until(lambda: web.health.status == "down")
    assert web.offer.tools == {}
    assert web.health.error is not None
    assert "Connect" in web.health.error
    with pytest.raises(McpToolFailed) as failed:
        await UpstreamBackend(upstreams).call_tool("web", "echo", {"text": "x"}, 5)
    assert failed.value.retriable is True
    assert "unavailable" in failed.value.message
    assert upstreams.by_name["local"].health.status == "up"
    # ... and it is reconnected when it is back
    restarted = start_http_upstream(http_port[0])
    try:
        await _until(lambda: web.health.status == "up", 20)
        assert sorted(web.offer.tools) == TOOLS
    finally:
        stop(restarted)


async def test_http_headers_from_env_and_stored_credentials_are_required() -> None:
    settings = McpSettings(
        upstreams={"web": http_upstream(free_port(), headers_env={"X-Key": "MISSING_VAR"})}
    )
    upstreams = Upstreams(settings, _no_secret, lambda name: None)
    await upstreams.start()
    web = upstreams.by_name["web"]
    try:
        await _until(lambda: web.health.status == "down")
        assert web.health.error is not None
        assert "MISSING_VAR is not set" in web.health.error
    finally:
        await upstreams.stop()


async def test_a_handshake_era_upstream_refreshes_on_its_list_changed_notification() -> None:
    settings = McpSettings(upstreams={"old": stdio_upstream("old", protocol="legacy")})
    upstreams = Upstreams(settings, _no_secret, lambda name: None)
    await upstreams.start()
    old = upstreams.by_name["old"]
    try:
        await upstreams.wait_connected(20)
        assert old.health.protocol_version == "2025-11-25"
        assert "fresh" not in old.offer.tools
        assert await UpstreamBackend(upstreams).call_tool("old", "grow", {}, 5) == {
            "result": "grown"
        }
        # notifications/tools/list_changed, not the 300 s timer
        await _until(lambda: "fresh" in old.offer.tools)
    finally:
        await upstreams.stop()
