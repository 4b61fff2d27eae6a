"""The executor against a real HTTP upstream on loopback: arguments checked before anything
runs, allowlists, results checked against their schema, structured errors within the tool's
timeout for an upstream that is slow, failing, talking garbage, hanging mid-answer or down,
retries for transient failures only, the breaker, and one span per call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agentdeck.identity.rbac import Role
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import (
    HttpImplementation,
    McpImplementation,
    RetryPolicy,
    ToolCaller,
    ToolSpec,
)
from tests.conftest import free_port
from tests.unit.tools.conftest import PROJECT, TENANT, SpanSink, Upstream, grant

pytestmark = pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}  # fmt: skip
DEV = ToolCaller(grant("developer"))


def http_tool(url: str, name: str = "weather", **fields: Any) -> ToolSpec:
    """An HTTP tool of TENANT at `url`."""
    fields.setdefault("input_schema", CITY if "{city}" in url else {"type": "object"})
    return ToolSpec(
        name=name,
        description="d",
        output_schema=fields.pop("output_schema", None),
        implementation=HttpImplementation("GET", url, fields.pop("headers", {}), "none"),
        tenant_id=TENANT,
        **fields,
    )


async def test_a_good_call_returns_the_result_and_records_a_span(
    executor: ToolExecutor, upstream: Upstream, sink: SpanSink
) -> None:
    spec = http_tool(f"{upstream.url}/weather/{{city}}")
    result = await executor.execute(spec, {"city": "Paris"}, DEV)
    assert result.to_json() == {"ok": True, "result": {"city": "Paris", "body": {}}}
    [span] = sink.spans
    assert (span.name, span.operation, span.tool_name, span.status) == (
        "execute_tool weather", "execute_tool", "weather", "ok",
    )  # fmt: skip
    assert span.attributes["gen_ai.tool.name"] == "weather"
    assert span.attributes["gen_ai.tool.call.id"] == span.span_id
    assert (span.tenant_id, span.project_id) == (TENANT, PROJECT)
    assert span.input_text is None
    assert span.output_text is None


async def test_an_argument_is_one_path_segment_never_another_host(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    spec = http_tool(f"{upstream.url}/weather/{{city}}")
    sneaky = "x/../../evil?k=v#@attacker.example"
    result = await executor.execute(spec, {"city": sneaky}, DEV)
    assert result.ok
    assert result.result["city"] == sneaky
    # `/`, `?` and `#` stay encoded: one path segment of the configured host
    assert upstream.seen[-1]["path"] == "/weather/x%2F..%2F..%2Fevil%3Fk=v%23@attacker.example"


async def test_bad_arguments_are_a_readable_error_and_nothing_runs(
    executor: ToolExecutor, upstream: Upstream, sink: SpanSink
) -> None:
    spec = http_tool(f"{upstream.url}/weather/{{city}}")
    for arguments, says in (
        ({}, "'city' is a required property"),
        ({"city": 3}, "arguments at city: 3 is not of type 'string'"),
        ({"city": "x", "url": "http://evil"}, "Additional properties"),
        (["city"], "must be a JSON object"),
    ):
        result = await executor.execute(spec, arguments, DEV)
        assert result.error is not None
        assert result.error.type == "invalid_arguments"
        assert says in result.error.message
        assert result.error.retriable is False
    assert upstream.hits == {}
    assert [s.attributes["error.type"] for s in sink.spans] == ["invalid_arguments"] * 4


async def test_the_allowlist_role_key_agent_and_project(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    url = f"{upstream.url}/weather/{{city}}"
    args = {"city": "Oslo"}
    narrowed = Role("narrow", frozenset({"tools:execute"}), {"tools": ("read_*",)})
    refused = [
        (http_tool(url), ToolCaller(grant("viewer"))),  # no tools:execute
        (http_tool(url), ToolCaller(grant(narrowed))),  # role narrowed to other tools
        (http_tool(url, allowed_keys=("key_2",)), DEV),
        (http_tool(url, allowed_agents=("planner",)), DEV),
        (http_tool(url, allowed_agents=("planner",)), ToolCaller(DEV.grant, agent="writer")),
        (http_tool(url, project_id="prj_other"), DEV),
        (ToolSpec("weather", "d", CITY, None, HttpImplementation("GET", url), tenant_id="t2"), DEV),
    ]
    for spec, caller in refused:
        result = await executor.execute(spec, args, caller)
        assert result.error is not None, spec
        assert result.error.type == "not_allowed", spec
        assert not executor.allowed(spec, caller)
    assert upstream.hits == {}
    admitted = [
        (http_tool(url, name="read_weather"), ToolCaller(grant(narrowed))),
        (http_tool(url, allowed_keys=("key_1",)), DEV),
        (http_tool(url, allowed_agents=("planner",)), ToolCaller(DEV.grant, agent="planner")),
        (http_tool(url, project_id=PROJECT), DEV),
    ]
    for spec, caller in admitted:
        assert (await executor.execute(spec, args, caller)).ok, spec
    assert upstream.hits == {"weather": 4}


async def test_a_result_outside_its_schema_is_an_error_not_a_success(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    schema = {"type": "object", "required": ["temperature"]}
    spec = http_tool(f"{upstream.url}/weather/{{city}}", output_schema=schema)
    result = await executor.execute(spec, {"city": "Rome"}, DEV)
    assert result.to_json() == {
        "ok": False,
        "error": {
            "type": "invalid_result",
            "message": "the tool's result at (root): 'temperature' is a required property",
            "retriable": False,
        },
    }


@pytest.mark.parametrize(
    ("path", "kind", "retriable"),
    [
        ("slow", "timeout", True),
        ("fail", "upstream_error", True),
        ("garbage", "upstream_error", False),
        ("hang", "timeout", True),
        ("missing", "upstream_error", False),
    ],
)
async def test_a_broken_upstream_is_a_structured_error_within_the_timeout(
    executor: ToolExecutor, upstream: Upstream, path: str, kind: str, retriable: bool
) -> None:
    spec = http_tool(f"{upstream.url}/{path}", timeout_s=0.5)
    started = time.monotonic()
    result = await executor.execute(spec, {}, DEV)
    took = time.monotonic() - started
    assert result.error is not None
    assert (result.error.type, result.error.retriable) == (kind, retriable)
    assert result.result is None
    assert took < 0.5 + 0.25


async def test_a_down_upstream_is_a_structured_error_at_once(executor: ToolExecutor) -> None:
    spec = http_tool(f"http://127.0.0.1:{free_port()}/x", timeout_s=2)
    started = time.monotonic()
    result = await executor.execute(spec, {}, DEV)
    assert result.error is not None
    assert (result.error.type, result.error.retriable) == ("upstream_error", True)
    assert "ClientConnectorError" in result.error.message
    assert time.monotonic() - started < 1


async def test_transient_failures_are_retried_others_are_not(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    retry = RetryPolicy(attempts=3, backoff_s=0.01)
    flaky = http_tool(f"{upstream.url}/flaky", retry=retry)
    assert (await executor.execute(flaky, {}, DEV)).to_json() == {
        "ok": True, "result": {"ok": "third time"},
    }  # fmt: skip
    assert upstream.hits["flaky"] == 3
    for path in ("garbage", "missing"):
        result = await executor.execute(http_tool(f"{upstream.url}/{path}", retry=retry), {}, DEV)
        assert not result.ok
        assert upstream.hits[path] == 1, path  # not transient: tried once


async def test_retries_stay_within_the_timeout(executor: ToolExecutor, upstream: Upstream) -> None:
    # Pauses of 0.5 s then 1 s, each ±20 %: the second retry would start at 1.2 s at the
    # earliest, past the 1 s deadline, so it is not made; the margins leave room for load.
    spec = http_tool(f"{upstream.url}/fail", timeout_s=1.0, retry=RetryPolicy(10, 0.5))
    started = time.monotonic()
    result = await executor.execute(spec, {}, DEV)
    assert result.error is not None
    assert result.error.type == "upstream_error"
    assert time.monotonic() - started < 1.0
    assert upstream.hits["fail"] == 2


async def test_the_breaker_opens_after_the_configured_failures_then_probes(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    spec = http_tool(f"{upstream.url}/fail")
    kinds = [(await executor.execute(spec, {}, DEV)).error.type for _ in range(5)]  # type: ignore[union-attr]
    assert kinds == ["upstream_error"] * 3 + ["circuit_open"] * 2
    assert upstream.hits["fail"] == 3
    assert executor.breakers.state((TENANT, "weather")) == "open"
    await asyncio.sleep(0.35)
    probe = await executor.execute(spec, {}, DEV)
    assert probe.error is not None
    assert probe.error.type == "upstream_error"
    assert upstream.hits["fail"] == 4
    # a tool that works is not refused because another failed
    good = http_tool(f"{upstream.url}/weather/{{city}}", name="other")
    assert (await executor.execute(good, {"city": "Lyon"}, DEV)).ok


async def test_bad_arguments_do_not_count_against_the_breaker(
    executor: ToolExecutor, upstream: Upstream
) -> None:
    spec = http_tool(f"{upstream.url}/weather/{{city}}")
    for _ in range(5):
        await executor.execute(spec, {"city": 1}, DEV)
    assert executor.breakers.state((TENANT, "weather")) == "closed"


async def test_mcp_tools_without_a_backend_fail_structured_and_call_one_when_set(
    executor: ToolExecutor,
) -> None:
    spec = ToolSpec("srv__echo", "d", {"type": "object"}, None, McpImplementation("srv", "echo"))
    result = await executor.execute(spec, {"a": 1}, DEV)
    assert result.error is not None
    assert result.error.type == "upstream_error"

    class Backend:
        calls: list[tuple[str, str, dict[str, Any], float]] = []

        async def call_tool(
            self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float
        ) -> Any:
            self.calls.append((server, tool, arguments, timeout_s))
            return {"echo": arguments}

    backend = Backend()
    executor.set_mcp_backend(backend)
    assert (await executor.execute(spec, {"a": 1}, DEV)).to_json() == {
        "ok": True, "result": {"echo": {"a": 1}},
    }  # fmt: skip
    [(server, tool, arguments, timeout_s)] = backend.calls
    assert (server, tool, arguments) == ("srv", "echo", {"a": 1})
    assert 0 < timeout_s <= 10
