"""How executor results become MCP tool results, and who a virtual server admits."""

from __future__ import annotations

import json

from agentdeck.identity.grants import Grant
from agentdeck.mcp.endpoint import tool_result
from agentdeck.mcp.upstreams import Upstreams
from agentdeck.mcp.virtual import VirtualServers
from agentdeck.settings_mcp import McpSettings
from agentdeck.tools.models import McpImplementation, ToolResult, ToolSpec, failure


def _spec(output_schema: dict[str, object] | None) -> ToolSpec:
    return ToolSpec("s__t", "d", {"type": "object"}, output_schema, McpImplementation("s", "t"))


def test_failures_are_is_error_results_with_the_structured_error() -> None:
    outcome = failure("approval_required", "needs approval", approval_id="apr_1")
    result = tool_result(_spec(None), outcome)
    assert result.is_error is True
    expected = {"ok": False, "approval_id": "apr_1",
                "error": {"type": "approval_required", "message": "needs approval",
                          "retriable": False}}  # fmt: skip
    assert result.structured_content == expected
    assert json.loads(result.content[0].text) == expected  # type: ignore[union-attr]


def test_unstructured_upstream_content_passes_through_and_structured_stays() -> None:
    blocks = {"content": [{"type": "text", "text": "plain"}]}
    passed = tool_result(_spec(None), ToolResult(True, blocks))
    assert passed.structured_content is None
    assert passed.content[0].text == "plain"  # type: ignore[union-attr]
    structured = tool_result(_spec({"type": "object"}), ToolResult(True, {"result": 3}))
    assert structured.structured_content == {"result": 3}
    listed = tool_result(None, ToolResult(True, [1, 2]))
    assert json.loads(listed.content[0].text) == [1, 2]  # type: ignore[union-attr]


async def _none(name: str) -> str | None:
    return None


def test_virtual_servers_admit_by_project_and_team() -> None:
    settings = McpSettings(
        upstreams={"u": {"transport": "stdio", "command": "true"}},
        virtual_servers={"p": {"projects": ["proj_a"]}, "t": {"teams": ["team_x"]}, "all": {}},
    )
    servers = VirtualServers(settings, Upstreams(settings, _none, lambda n: None)).by_name

    def grant(project: str, teams: tuple[str, ...] = ()) -> Grant:
        return Grant("k", "ten", "slug", project, "prin", "ann", "user", teams)

    assert servers["p"].admits(grant("proj_a"))
    assert not servers["p"].admits(grant("proj_b"))
    assert servers["t"].admits(grant("proj_b", ("team_x",)))
    assert not servers["t"].admits(grant("proj_b", ("team_y",)))
    assert servers["all"].admits(grant("proj_b"))
    assert servers["all"].upstream_specs() == {}  # nothing discovered yet
