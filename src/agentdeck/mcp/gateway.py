"""The MCP gateway as one unit for the app: upstream sessions, virtual servers, the
`/mcp/{name}` endpoint and `GET /mcp` (which servers a key may use, and the upstreams'
health); it hands the executor its `McpBackend`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdeck.errors import AgentdeckError, http_status
from agentdeck.identity.audit_log import AuditQueue
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.grants import Grant
from agentdeck.identity.tables import tenants
from agentdeck.identity.vault import Vault
from agentdeck.mcp.backend import UpstreamBackend
from agentdeck.mcp.endpoint import McpEndpoint
from agentdeck.mcp.upstreams import Upstreams
from agentdeck.mcp.virtual import VirtualServers
from agentdeck.request_context import REQUEST_ID_KEY
from agentdeck.settings import Settings, read_credential
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import ToolLookup, ToolSpec
from agentdeck.tracing.metrics import Metrics


class PlatformSecrets:
    """Stored credentials of the platform tenant that upstreams name, decrypted when a
    session is opened (so a rotated credential is used at the next reconnection)."""

    def __init__(self, engine: AsyncEngine, vault: Vault, slug: str) -> None:
        self._engine = engine
        self._vault = vault
        self._slug = slug

    async def __call__(self, name: str) -> str | None:
        """The credential's value, or None when it is not stored."""
        async with self._engine.connect() as conn:
            tenant_id = await conn.scalar(
                sa.select(tenants.c.id).where(tenants.c.slug == self._slug)
            )
        if tenant_id is None:
            return None
        try:
            return await self._vault.reveal(str(tenant_id), name)
        except AgentdeckError:
            return None


class UpstreamCollector:
    """The upstreams' state as Prometheus gauges, read at each scrape."""

    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams

    def collect(self) -> Iterator[Metric]:
        """`agentdeck_mcp_upstream_up`, `..._consecutive_failures` and `..._tools`."""
        up = GaugeMetricFamily(
            "agentdeck_mcp_upstream_up", "1 while an MCP upstream is connected", labels=["upstream"]
        )
        failures = GaugeMetricFamily(
            "agentdeck_mcp_upstream_consecutive_failures",
            "Failed connections or health checks of an MCP upstream since it was last up",
            labels=["upstream"],
        )
        tools = GaugeMetricFamily(
            "agentdeck_mcp_upstream_tools", "Tools an MCP upstream offers now", labels=["upstream"]
        )
        for name, upstream in self._upstreams.by_name.items():
            up.add_metric([name], 1.0 if upstream.health.status == "up" else 0.0)
            failures.add_metric([name], float(upstream.health.failures))
            tools.add_metric([name], float(len(upstream.offer.tools)))
        yield from (up, failures, tools)


class McpGateway:
    """Upstreams, virtual servers and their routes, started and stopped with the app."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        vault: Vault,
        authenticator: Authenticator,
        executor: ToolExecutor,
        store: ToolLookup | None,
        metrics: Metrics | None = None,
        audit: AuditQueue | None = None,
    ) -> None:
        secrets = PlatformSecrets(engine, vault, settings.identity.platform_tenant)
        self.upstreams = Upstreams(settings.mcp, secrets, read_credential)
        self.servers = VirtualServers(
            settings.mcp, self.upstreams, self._registry_lookup(store) if store else None
        )
        self._authenticator = authenticator
        self.endpoint = McpEndpoint(
            self.servers, executor, authenticator, settings.server.max_body_bytes, audit
        )
        executor.set_mcp_backend(UpstreamBackend(self.upstreams))
        if metrics is not None and self.upstreams.by_name:
            metrics.add_collector(UpstreamCollector(self.upstreams))

    def readiness(self) -> dict[str, int]:
        """How many upstreams are connecting, up and down, for `/readyz` (which does not wait
        on them, and shows no names: it answers without a key; `GET /mcp` names them)."""
        found = {"connecting": 0, "up": 0, "down": 0}
        for upstream in self.upstreams.by_name.values():
            found[upstream.health.status] = found.get(upstream.health.status, 0) + 1
        return found

    @staticmethod
    def _registry_lookup(store: ToolLookup) -> Any:
        async def lookup(name: str, grant: Grant) -> ToolSpec | None:
            return await store.get(grant.tenant_id, name)

        return lookup

    def routes(self) -> list[Route]:
        """`GET /mcp` and `POST /mcp/{name}`."""
        return [Route("/mcp", endpoint=self._overview, methods=["GET"]), *self.endpoint.routes()]

    async def start(self) -> None:
        """Open the upstream sessions (in the background) and the endpoint's managers."""
        await self.endpoint.start()
        await self.upstreams.start()

    async def stop(self) -> None:
        """Close the endpoint and every upstream session."""
        await self.endpoint.stop()
        await self.upstreams.stop()

    async def _overview(self, request: Request) -> Response:
        """The virtual servers this key may use, and every upstream's health."""
        try:
            grant = await self._authenticator.authenticate(
                request.headers, request.scope.get(REQUEST_ID_KEY)
            )
        except AgentdeckError as error:
            return Response(error.to_json(), http_status(error), media_type="application/json")
        servers = [
            {"name": name, "path": f"/mcp/{name}", "tools": sorted(server.upstream_specs())
             + list(server.settings.registry_tools)}
            for name, server in self.servers.by_name.items()
            if server.admits(grant)
        ]  # fmt: skip
        used = {use.upstream for name, server in self.servers.by_name.items()
                if server.admits(grant) for use in server.settings.tools}  # fmt: skip
        health = [row for row in self.upstreams.health() if row["name"] in used]
        return JSONResponse({"servers": servers, "upstreams": health})
