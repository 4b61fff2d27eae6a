"""Sessions with the upstream MCP servers: one long-lived `mcp.Client` per upstream (a command
over stdio, or a Streamable HTTP URL with headers agentdeck holds), what each offers (tools,
resources, prompts), kept fresh on change notifications and on a timer, health checked, and
reconnected with backoff when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client._transport import Transport
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentdeck.settings_mcp import McpSettings, UpstreamSettings

log = logging.getLogger(__name__)
Status = Literal["connecting", "up", "down"]
# What a broken connection looks like from the SDK: the transport's own errors, closed
# streams, and an MCPError raised because the connection closed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    httpx2.TransportError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)
SecretLookup = Callable[[str], Awaitable[str | None]]


@dataclass
class Offer:
    """What one upstream offers, as last discovered."""

    tools: dict[str, types.Tool] = field(default_factory=dict)
    resources: list[types.Resource] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)


@dataclass
class UpstreamHealth:
    """An upstream's state as the health route and the endpoint show it."""

    name: str
    transport: str
    status: Status = "connecting"
    error: str | None = None
    protocol_version: str | None = None
    server_name: str | None = None
    checked_at: float | None = None
    refreshed_at: float | None = None
    failures: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of this state."""
        return {
            "name": self.name, "transport": self.transport, "status": self.status,
            "error": self.error, "protocol_version": self.protocol_version,
            "server": self.server_name, "checked_at": self.checked_at,
            "refreshed_at": self.refreshed_at, "consecutive_failures": self.failures,
        }  # fmt: skip


class UpstreamUnavailable(Exception):  # noqa: N818 - reads as a state
    """The upstream is not connected now."""


class Upstream:
    """One upstream MCP server and the task that keeps a session with it."""

    def __init__(
        self,
        name: str,
        settings: UpstreamSettings,
        mcp: McpSettings,
        secrets: SecretLookup,
        read_env: Callable[[str], str | None],
        on_change: Callable[[str], None],
    ) -> None:
        self.name = name
        self.settings = settings
        self._mcp = mcp
        self._secrets = secrets
        self._read_env = read_env
        self._on_change = on_change
        self.health = UpstreamHealth(name, settings.transport)
        self.offer = Offer()
        self._client: Client | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        """Start keeping a session (returns at once; the first connection runs meanwhile)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp:{self.name}")

    async def stop(self) -> None:
        """Close the session (and end a stdio upstream's process)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def refresh_soon(self) -> None:
        """Rediscover now rather than at the next timer (a change was announced)."""
        self._wake.set()

    async def _transport(self) -> Transport:
        s = self.settings
        if s.transport == "stdio":
            assert s.command is not None
            env = dict(s.env)
            for child_name, env_name in s.env_from.items():
                value = self._read_env(env_name)
                if value is None:
                    raise UpstreamUnavailable(f"environment variable {env_name} is not set")
                env[child_name] = value
            params = StdioServerParameters(command=s.command, args=s.args, env=env, cwd=s.cwd)
            return stdio_client(params)
        headers = dict(s.headers)
        for header, env_name in s.headers_env.items():
            value = self._read_env(env_name)
            if value is None:
                raise UpstreamUnavailable(f"environment variable {env_name} is not set")
            headers[header] = value
        if s.credential is not None:
            token = await self._secrets(s.credential)
            if token is None:
                raise UpstreamUnavailable(f"stored credential {s.credential!r} is not available")
            headers["Authorization"] = f"Bearer {token}"
        assert s.url is not None
        http = create_mcp_http_client(
            headers=headers, timeout=httpx2.Timeout(s.timeout_s, read=max(s.timeout_s, 300.0))
        )
        return streamable_http_client(s.url, http_client=http)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._serve_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means down; recorded, retried
                self._mark_down(exc)
            pause = min(backoff, self._mcp.reconnect_max_backoff_s)
            backoff = pause * 2
            await asyncio.sleep(pause * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter

    def _mark_down(self, exc: BaseException) -> None:
        self._client = None
        self.connected.clear()
        message = _describe(exc)
        if self.health.status != "down" or self.health.error != message:
            log.warning("MCP upstream %s is down: %s", self.name, message)
        self.health.status = "down"
        self.health.error = message
        self.health.failures += 1
        self.health.checked_at = time.time()
        if self.offer.tools:
            self.offer = Offer()
            self._on_change(self.name)

    async def _serve_once(self) -> None:
        client = Client(
            await self._transport(),
            mode=self.settings.protocol,
            read_timeout_seconds=self.settings.timeout_s,
            message_handler=self._on_message,
            cache=None,  # the listings are agentdeck's to refresh
            client_info=types.Implementation(name="agentdeck", version="1"),
        )
        async with client:
            await self._discover(client)
            self._client = client
            self.health.status, self.health.error, self.health.failures = "up", None, 0
            self.health.protocol_version = client.protocol_version
            info = client.server_info
            self.health.server_name = info.name if info is not None else None
            self.connected.set()
            log.info("MCP upstream %s connected (%s)", self.name, client.protocol_version)
            async with anyio.create_task_group() as group:
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    group.start_soon(self._listen, client)
                await self._watch(client)

    async def _watch(self, client: Client) -> None:
        """Rediscover on a change, and on the timer; a failed check ends the session."""
        interval = min(self._mcp.health_interval_s, self._mcp.refresh_interval_s)
        last_refresh = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            due = time.monotonic() - last_refresh >= self._mcp.refresh_interval_s
            if self._wake.is_set() or due:
                self._wake.clear()
                await self._discover(client)
                last_refresh = time.monotonic()
            else:  # the cheapest request every revision answers: a tools listing
                await client.list_tools(cache_mode="bypass")
                self.health.checked_at = time.time()

    async def _listen(self, client: Client) -> None:
        """Refresh on the 2026-era `subscriptions/listen` events."""
        caps = client.server_capabilities
        if not (caps.tools and caps.tools.list_changed):
            return
        try:
            async with client.listen(
                tools_list_changed=True, prompts_list_changed=caps.prompts is not None,
                resources_list_changed=caps.resources is not None,
            ) as subscription:  # fmt: skip
                async for _event in subscription:
                    self.refresh_soon()
        except (MCPError, RuntimeError) as exc:  # the timer still refreshes
            log.info("MCP upstream %s: no change subscription (%s)", self.name, exc)

    async def _on_message(self, message: IncomingMessage) -> None:
        """Handshake-era change notifications arrive here."""
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.PromptListChangedNotification
            | types.ResourceListChangedNotification,
        ):
            self.refresh_soon()
        elif isinstance(message, Exception):
            log.info("MCP upstream %s transport: %s", self.name, message)

    async def _discover(self, client: Client) -> None:
        caps = client.server_capabilities
        tools: dict[str, types.Tool] = {}
        cursor: str | None = None
        if caps.tools is not None:
            for _ in range(100):  # a paginator that never ends cannot hang discovery
                page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                tools.update({tool.name: tool for tool in page.tools})
                if (cursor := page.next_cursor) is None:
                    break
        offer = Offer(tools=tools)
        if caps.resources is not None:
            offer.resources = list((await client.list_resources(cache_mode="bypass")).resources)
        if caps.prompts is not None:
            offer.prompts = list((await client.list_prompts(cache_mode="bypass")).prompts)
        changed = offer.tools != self.offer.tools
        self.offer = offer
        self.health.refreshed_at = self.health.checked_at = time.time()
        if changed:
            self._on_change(self.name)

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> types.CallToolResult:
        """Call `tool` on this upstream; UpstreamUnavailable when not connected, TimeoutError
        when it does not answer in `timeout_s`."""
        client = self._client
        if client is None:
            raise UpstreamUnavailable(self.health.error or "not connected yet")
        try:
            with anyio.fail_after(timeout_s):
                return await client.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        except CONNECTION_ERRORS as exc:
            self.refresh_soon()  # the watcher's next request decides whether it is down
            raise UpstreamUnavailable(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    """A one-line reason, looking inside exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


class Upstreams:
    """Every configured upstream, started and stopped with the app."""

    def __init__(
        self, settings: McpSettings, secrets: SecretLookup, read_env: Callable[[str], str | None]
    ) -> None:
        self._listeners: list[Callable[[str], None]] = []
        self.by_name = {
            name: Upstream(name, spec, settings, secrets, read_env, self._changed)
            for name, spec in settings.upstreams.items()
        }

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(upstream)` whenever an upstream's tools change."""
        self._listeners.append(listener)

    def _changed(self, name: str) -> None:
        for listener in self._listeners:
            listener(name)

    async def start(self) -> None:
        """Start every upstream's session (not waiting for them: a down one is retried)."""
        for upstream in self.by_name.values():
            upstream.start()

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until every upstream is connected, or `timeout_s` passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                for upstream in self.by_name.values():
                    await upstream.connected.wait()

    async def stop(self) -> None:
        """Close every session."""
        for upstream in self.by_name.values():
            await upstream.stop()

    def health(self) -> list[dict[str, Any]]:
        """Each upstream's state."""
        return [upstream.health.to_json() for upstream in self.by_name.values()]
