"""Settings of the MCP gateway: the upstream MCP servers agentdeck connects to and the virtual
servers it serves at `/mcp/{name}`. Part of the one settings tree that
`agentdeck.settings.Settings` assembles.

Every name a virtual server exposes is decided here, so a collision (two upstreams, an alias
and a registry tool) fails when the configuration is loaded, naming both sources.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Risk = Literal["low", "medium", "high"]
SEPARATOR = "__"  # upstream and tool in a namespaced name: `server__tool`
_UPSTREAM_NAME = re.compile(r"^[a-zA-Z0-9-]+(_[a-zA-Z0-9-]+)*$")  # no `__`: the separator
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpstreamSettings(_Section):
    """One upstream MCP server: a command spoken to over stdio, or a Streamable HTTP URL."""

    transport: Literal["stdio", "http"]
    command: str | None = Field(default=None, description="stdio: the program to start")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments")
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment")
    env_from: dict[str, str] = Field(
        default_factory=dict,
        description="stdio: child variable -> name of agentdeck's environment variable holding it",
    )
    cwd: str | None = Field(default=None, description="stdio: working directory")
    url: str | None = Field(default=None, description="http: the Streamable HTTP endpoint")
    headers: dict[str, str] = Field(default_factory=dict, description="http: fixed headers")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="http: header -> environment variable holding its value"
    )
    credential: str | None = Field(
        default=None,
        description="http: stored credential of the platform tenant, sent as a bearer token",
    )
    protocol: Literal["auto", "legacy"] = Field(
        default="auto",
        description="auto: the current revision, else the initialize handshake; legacy: the "
        "handshake only",
    )
    risk: Risk = Field(default="medium", description="risk of its tools unless a virtual "
                       "server says otherwise")  # fmt: skip
    timeout_s: float = Field(default=30.0, gt=0, description="one request to the upstream")

    @model_validator(mode="after")
    def _transport_fields(self) -> UpstreamSettings:
        if self.transport == "stdio":
            if not self.command:
                raise ValueError("a stdio upstream needs `command`")
            if self.url or self.headers or self.headers_env or self.credential:
                raise ValueError("url, headers, headers_env and credential are for http upstreams")
        else:
            if not self.url or not re.match(r"^https?://[^/\s]+", self.url):
                raise ValueError(
                    f"an http upstream needs `url` as http(s)://host/...: {self.url!r}"
                )
            if self.command or self.args or self.env or self.env_from or self.cwd:
                raise ValueError("command, args, env, env_from and cwd are for stdio upstreams")
        return self


class VirtualToolSettings(_Section):
    """Tools of one upstream in a virtual server: one tool (optionally renamed), or all."""

    upstream: str = Field(min_length=1)
    tool: str | None = Field(default=None, description="the upstream's tool; none: all of them")
    alias: str | None = Field(default=None, description="the name clients see instead")
    risk: Risk | None = Field(default=None, description="default: the upstream's risk")

    @field_validator("alias")
    @classmethod
    def _alias_name(cls, alias: str | None) -> str | None:
        if alias is not None:
            if not _TOOL_NAME.match(alias):
                raise ValueError("an alias is 1-64 letters, digits, `_` or `-`")
            if SEPARATOR in alias:
                raise ValueError(f"an alias may not contain {SEPARATOR!r} (kept for namespacing)")
        return alias

    @model_validator(mode="after")
    def _alias_needs_tool(self) -> VirtualToolSettings:
        if self.alias is not None and self.tool is None:
            raise ValueError("an alias renames one tool: set `tool` too")
        return self


class VirtualServerSettings(_Section):
    """A named set of tools served at `/mcp/{name}` to the listed projects and teams."""

    projects: list[str] = Field(
        default_factory=list, description="project ids whose keys may use it; empty: any"
    )
    teams: list[str] = Field(
        default_factory=list, description="team ids whose members may use it; empty: any"
    )
    tools: list[VirtualToolSettings] = Field(default_factory=list)
    registry_tools: list[str] = Field(
        default_factory=list, description="names of tools of the tool registry"
    )


class McpSettings(_Section):
    """The MCP gateway: upstream MCP servers and the virtual servers made of their tools."""

    upstreams: dict[str, UpstreamSettings] = Field(default_factory=dict)
    virtual_servers: dict[str, VirtualServerSettings] = Field(default_factory=dict)
    refresh_interval_s: float = Field(
        default=300.0, gt=0, description="rediscover tools, resources and prompts this often"
    )
    health_interval_s: float = Field(default=15.0, gt=0, description="check each upstream")
    reconnect_max_backoff_s: float = Field(
        default=30.0, gt=0, description="longest pause between reconnection attempts"
    )

    @model_validator(mode="after")
    def _names_resolve(self) -> McpSettings:
        for name in self.upstreams:
            if not _UPSTREAM_NAME.match(name) or len(name) > 48:
                raise ValueError(
                    f"mcp.upstreams.{name}: a name is letters, digits, `-` and single `_` "
                    f"(at most 48; {SEPARATOR!r} separates upstream and tool)"
                )
        for server, spec in self.virtual_servers.items():
            if not _SERVER_NAME.match(server):
                raise ValueError(f"mcp.virtual_servers.{server}: a name is [a-z0-9][a-z0-9_-]*")
            exposed_names(server, spec, self.upstreams)
        return self


def exposed_names(
    server: str, spec: VirtualServerSettings, upstreams: dict[str, UpstreamSettings]
) -> dict[str, str]:
    """The fixed names of a virtual server's tools and where each comes from; a name given
    twice, or one an upstream's namespace could also produce, raises naming both sources."""
    where = f"mcp.virtual_servers.{server}"
    names: dict[str, str] = {}
    whole: dict[str, str] = {}  # upstreams all of whose tools are exposed as `upstream__*`

    def claim(name: str, source: str) -> None:
        if name in names:
            raise ValueError(f"{where}: tool name {name!r} comes from both {names[name]} "
                             f"and {source}")  # fmt: skip
        names[name] = source

    for index, use in enumerate(spec.tools):
        source = f"tools[{index}] (upstream {use.upstream!r}"
        if use.upstream not in upstreams:
            raise ValueError(f"{where}.tools[{index}].upstream: unknown upstream {use.upstream!r}")
        if use.tool is None:
            if use.upstream in whole:
                raise ValueError(f"{where}: upstream {use.upstream!r} is listed whole twice, "
                                 f"in {whole[use.upstream]} and tools[{index}]")  # fmt: skip
            whole[use.upstream] = f"tools[{index}]"
            continue
        if not _TOOL_NAME.match(use.tool):
            raise ValueError(f"{where}.tools[{index}].tool: not an MCP tool name: {use.tool!r}")
        claim(use.alias or f"{use.upstream}{SEPARATOR}{use.tool}", f"{source}, tool {use.tool!r})")
    for index, name in enumerate(spec.registry_tools):
        if not _TOOL_NAME.match(name):
            raise ValueError(f"{where}.registry_tools[{index}]: not a tool name: {name!r}")
        claim(name, f"registry_tools[{index}] (the tool registry)")
    for name, source in names.items():
        upstream = name.split(SEPARATOR, 1)[0]
        if SEPARATOR in name and upstream in whole:
            every = f"{whole[upstream]} (every tool of upstream {upstream!r})"
            raise ValueError(f"{where}: tool name {name!r} comes from both {source} and {every}")
    return names
