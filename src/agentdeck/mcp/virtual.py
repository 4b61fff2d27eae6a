"""Virtual servers: a named set of tools drawn from several upstreams and from the tool
registry, for some projects or teams. Upstream tools are namespaced `upstream__tool` (or take
a configured alias), so two upstreams never collide; the names a configuration fixes are
checked when it is loaded (`settings_mcp.exposed_names`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import mcp_types as types

from agentdeck.identity.grants import Grant
from agentdeck.mcp.upstreams import Upstreams
from agentdeck.settings_mcp import SEPARATOR, McpSettings, VirtualServerSettings
from agentdeck.tools.models import McpImplementation, ToolCaller, ToolResult, ToolSpec

log = logging.getLogger(__name__)
MAX_NAME = 64
RegistryLookup = Callable[[str, Grant], Awaitable[ToolSpec | None]]


class ToolRunner(Protocol):
    """What the endpoint needs of the tool executor (`tools.executor.ToolExecutor`)."""

    async def execute(
        self, spec: ToolSpec, arguments: Any, caller: ToolCaller, approval_id: str | None = None
    ) -> ToolResult:
        """Run one call through validation, allowlist, approval, credentials, call and span."""
        ...

    def allowed(self, spec: ToolSpec, caller: ToolCaller) -> bool:
        """Whether the caller may call the tool (for listings)."""
        ...

    def missing(self, name: str, arguments: Any, caller: ToolCaller, message: str) -> ToolResult:
        """The recorded `not_found` result of a call of a tool that does not exist."""
        ...


class VirtualServer:
    """One virtual server: who may use it and the tools it exposes now."""

    def __init__(
        self,
        name: str,
        settings: VirtualServerSettings,
        mcp: McpSettings,
        upstreams: Upstreams,
        registry: RegistryLookup | None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._mcp = mcp
        self._upstreams = upstreams
        self._registry = registry
        self._specs: dict[str, ToolSpec] | None = None  # built on first use after a change

    def admits(self, grant: Grant) -> bool:
        """Whether a key of this project and teams may use this server."""
        projects, teams = self.settings.projects, self.settings.teams
        if projects and grant.project_id not in projects:
            return False
        return not teams or bool(set(teams) & set(grant.team_ids))

    def forget(self) -> None:
        """An upstream's tools changed: build the names again on next use."""
        self._specs = None

    def upstream_specs(self) -> dict[str, ToolSpec]:
        """The upstream tools exposed now, by the name clients see."""
        if self._specs is None:
            self._specs = self._build()
        return self._specs

    def _build(self) -> dict[str, ToolSpec]:
        specs: dict[str, ToolSpec] = {}
        for use in self.settings.tools:
            upstream = self._upstreams.by_name[use.upstream]
            config = self._mcp.upstreams[use.upstream]
            offered = upstream.offer.tools
            chosen = [use.tool] if use.tool is not None else sorted(offered)
            for tool_name in chosen:
                tool = offered.get(tool_name)
                if tool is None:
                    continue  # not offered now (or the upstream is down): not listed
                name = use.alias or f"{use.upstream}{SEPARATOR}{tool_name}"
                if len(name) > MAX_NAME:
                    log.warning("MCP server %s: %r is longer than %d, not exposed",
                                self.name, name, MAX_NAME)  # fmt: skip
                    continue
                specs[name] = _spec(name, tool, use.upstream, use.risk or config.risk,
                                    config.timeout_s)  # fmt: skip
        return specs

    async def specs(self, grant: Grant) -> list[ToolSpec]:
        """Every tool this server exposes to `grant`'s tenant now (before allowlists)."""
        found = list(self.upstream_specs().values())
        if self._registry is not None:
            for name in self.settings.registry_tools:
                spec = await self._registry(name, grant)
                if spec is not None:
                    found.append(spec)
        return found

    async def spec(self, name: str, grant: Grant) -> ToolSpec | None:
        """The tool clients call `name`, or None."""
        spec = self.upstream_specs().get(name)
        if spec is None and self._registry is not None and name in self.settings.registry_tools:
            spec = await self._registry(name, grant)
        return spec


def _spec(name: str, tool: types.Tool, upstream: str, risk: Any, timeout_s: float) -> ToolSpec:
    """An upstream tool as a tool spec the executor runs."""
    return ToolSpec(
        name=name,
        description=tool.description or tool.title or f"{tool.name} of MCP server {upstream}",
        input_schema=dict(tool.input_schema),
        output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
        implementation=McpImplementation(server=upstream, tool=tool.name),
        owner=f"mcp:{upstream}",
        risk=risk,
        timeout_s=timeout_s,
    )


class VirtualServers:
    """Every configured virtual server, rebuilt when an upstream's tools change."""

    def __init__(
        self, mcp: McpSettings, upstreams: Upstreams, registry: RegistryLookup | None = None
    ) -> None:
        self.by_name = {
            name: VirtualServer(name, spec, mcp, upstreams, registry)
            for name, spec in mcp.virtual_servers.items()
        }
        upstreams.on_change(self._changed)

    def _changed(self, upstream: str) -> None:
        for server in self.by_name.values():
            if any(use.upstream == upstream for use in server.settings.tools):
                server.forget()
