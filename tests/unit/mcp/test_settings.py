"""MCP settings: names resolve and collide at load, with the path and both sources named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentdeck.config_file import ConfigFileError
from agentdeck.settings import Settings

STDIO = {"transport": "stdio", "command": "python"}
HTTP = {"transport": "http", "url": "http://127.0.0.1:9/mcp"}


def _load(make_settings: Callable[..., Settings], **mcp: Any) -> Settings:
    return make_settings(mcp=mcp)


def _problem(make_settings: Callable[..., Settings], **mcp: Any) -> str:
    with pytest.raises(ConfigFileError) as caught:
        _load(make_settings, **mcp)
    return str(caught.value)


def test_a_valid_configuration_loads(make_settings: Callable[..., Settings]) -> None:
    settings = _load(
        make_settings,
        upstreams={"files": STDIO, "web": HTTP},
        virtual_servers={
            "team-a": {
                "projects": ["p1"],
                "tools": [
                    {"upstream": "files"},
                    {"upstream": "web", "tool": "echo", "alias": "say"},
                ],
                "registry_tools": ["weather"],
            }
        },
    )
    assert settings.mcp.upstreams["web"].risk == "medium"
    assert settings.mcp.virtual_servers["team-a"].tools[1].alias == "say"


def test_two_sources_of_one_name_are_a_conflict_naming_both(
    make_settings: Callable[..., Settings],
) -> None:
    problem = _problem(
        make_settings,
        upstreams={"files": STDIO, "web": HTTP},
        virtual_servers={"s": {"tools": [
            {"upstream": "files", "tool": "read", "alias": "fetch"},
            {"upstream": "web", "tool": "get", "alias": "fetch"},
        ]}},
    )  # fmt: skip
    assert "tool name 'fetch' comes from both tools[0] (upstream 'files', tool 'read')" in problem
    assert "tools[1] (upstream 'web', tool 'get')" in problem
    assert "mcp.virtual_servers.s" in problem


def test_a_registry_tool_in_an_upstream_namespace_is_a_conflict(
    make_settings: Callable[..., Settings],
) -> None:
    problem = _problem(
        make_settings,
        upstreams={"web": HTTP},
        virtual_servers={"s": {"tools": [{"upstream": "web"}], "registry_tools": ["web__echo"]}},
    )
    assert "'web__echo' comes from both registry_tools[0] (the tool registry)" in problem
    assert "every tool of upstream 'web'" in problem


def test_an_alias_equal_to_a_registry_tool_is_a_conflict(
    make_settings: Callable[..., Settings],
) -> None:
    problem = _problem(
        make_settings,
        upstreams={"web": HTTP},
        virtual_servers={"s": {"tools": [{"upstream": "web", "tool": "x", "alias": "weather"}],
                               "registry_tools": ["weather"]}},
    )  # fmt: skip
    assert "'weather' comes from both tools[0]" in problem
    assert "registry_tools[0]" in problem


@pytest.mark.parametrize(
    ("mcp", "expected"),
    [
        ({"virtual_servers": {"s": {"tools": [{"upstream": "nope"}]}}},
         "mcp.virtual_servers.s.tools[0].upstream: unknown upstream 'nope'"),
        ({"upstreams": {"web": {"transport": "http", "url": "ftp://x"}}},
         "an http upstream needs `url` as http(s)://host/"),
        ({"upstreams": {"a__b": STDIO}}, "mcp.upstreams.a__b: a name is"),
        ({"upstreams": {"s": {"transport": "stdio"}}}, "a stdio upstream needs `command`"),
        ({"upstreams": {"w": HTTP}, "virtual_servers": {"s": {"tools": [
            {"upstream": "w", "tool": "x", "alias": "w__y"}]}}}, "may not contain '__'"),
    ],
)  # fmt: skip
def test_bad_configurations_fail_at_load_with_path_and_reason(
    make_settings: Callable[..., Settings], mcp: dict[str, Any], expected: str
) -> None:
    problem = _problem(make_settings, **mcp)
    assert expected in problem
    assert "mcp" in problem
