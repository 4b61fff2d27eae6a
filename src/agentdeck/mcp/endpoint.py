"""`/mcp/{name}`: each virtual server served over Streamable HTTP with the `mcp` SDK's session
manager, behind agentdeck keys. Listing and calling both go through the tool executor, so the
allowlists, approvals, credentials, spans and audit of every other tool call apply here too.

The session manager runs stateless: any replica answers any request (2026-era requests are
self-contained anyway; handshake-era clients get no session to pin them to one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdeck.errors import AgentdeckError, NotFoundError, PermissionDeniedError, http_status
from agentdeck.identity.audit_log import AuditEvent, AuditQueue
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.grants import Grant
from agentdeck.mcp.virtual import ToolRunner, VirtualServer, VirtualServers
from agentdeck.request_context import REQUEST_ID_KEY
from agentdeck.tools.models import ToolCaller, ToolResult, ToolSpec

log = logging.getLogger(__name__)
CALLER_KEY = "agentdeck.mcp.caller"
APPROVAL_META_KEY = "agentdeck/approval_id"  # `_meta` of a tools/call that retries an approval


def _caller(ctx: ServerRequestContext[Any, Any]) -> ToolCaller:
    """The caller the ASGI layer authenticated for this request."""
    request = ctx.request
    caller = request.scope.get(CALLER_KEY) if request is not None else None
    if not isinstance(caller, ToolCaller):  # only reachable if mounted without McpEndpoint
        raise PermissionDeniedError("MCP request without an authenticated caller")
    return caller


def _listed(spec: ToolSpec) -> types.Tool:
    """A tool spec as MCP lists it."""
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
    )


def tool_result(spec: ToolSpec | None, outcome: ToolResult) -> types.CallToolResult:
    """An executor's result as an MCP tool result: failures are `isError` results carrying
    the structured error both as text and as structured content."""
    if not outcome.ok:
        body = outcome.to_json()
        text = types.TextContent(type="text", text=json.dumps(body))
        return types.CallToolResult(content=[text], structured_content=body, is_error=True)
    result = outcome.result
    if (
        isinstance(result, dict)
        and set(result) == {"content"}
        and (spec is None or spec.output_schema is None)
    ):
        # An upstream's unstructured answer: its content blocks, as they were.
        blocks = types.CallToolResult.model_validate({"content": result["content"]}).content
        return types.CallToolResult(content=blocks)
    text = types.TextContent(type="text", text=json.dumps(result))
    structured = result if isinstance(result, dict) else None
    return types.CallToolResult(content=[text], structured_content=structured)


def _mcp_server(virtual: VirtualServer, runner: ToolRunner) -> Server[Any]:
    """The SDK's low-level server for one virtual server."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = _caller(ctx)
        specs = await virtual.specs(caller.grant)
        allowed = [_listed(spec) for spec in specs if runner.allowed(spec, caller)]
        return types.ListToolsResult(tools=allowed)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = _caller(ctx)
        spec = await virtual.spec(params.name, caller.grant)
        if spec is None:
            message = f"MCP server {virtual.name!r} has no tool {params.name!r}"
            return tool_result(None, runner.missing(params.name, params.arguments, caller, message))
        meta = params.meta or {}
        approval = meta.get(APPROVAL_META_KEY)
        outcome = await runner.execute(
            spec, params.arguments or {}, caller,
            approval if isinstance(approval, str) else None,
        )  # fmt: skip
        return tool_result(spec, outcome)

    return Server(
        f"agentdeck-{virtual.name}", version="1",
        on_list_tools=list_tools, on_call_tool=call_tool,
    )  # fmt: skip


class McpEndpoint:
    """The ASGI app of `/mcp/{name}`: authenticate, check the server's projects and teams,
    then hand the request to that virtual server's session manager."""

    def __init__(
        self,
        servers: VirtualServers,
        runner: ToolRunner,
        authenticator: Authenticator,
        max_body_bytes: int,
        audit: AuditQueue | None = None,
    ) -> None:
        self._servers = servers
        self._authenticator = authenticator
        self._audit = audit
        self._managers = {
            name: StreamableHTTPSessionManager(
                _mcp_server(virtual, runner), stateless=True,
                max_request_body_size=max_body_bytes,
            )
            for name, virtual in servers.by_name.items()
        }  # fmt: skip
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def routes(self) -> list[Route]:
        """The route of every virtual server."""
        return [Route("/mcp/{name}", endpoint=self, methods=["POST"])]

    async def start(self) -> None:
        """Run each session manager's task group, in a task of its own: anyio task groups
        must be left by the task that entered them, and the app may stop from another."""
        ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner = asyncio.get_running_loop().create_task(self._run(ready))
        await ready.wait()

    async def _run(self, ready: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for manager in self._managers.values():
                await stack.enter_async_context(manager.run())
            ready.set()
            await self._stopping.wait()

    async def stop(self) -> None:
        """Stop the session managers (requests in flight are cancelled)."""
        if self._runner is not None:
            self._stopping.set()
            await self._runner
            self._runner = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request to `/mcp/{name}`."""
        name = scope.get("path_params", {}).get("name", "")
        request_id = scope.get(REQUEST_ID_KEY)
        try:
            virtual = self._servers.by_name.get(name)
            manager = self._managers.get(name)
            if virtual is None or manager is None:
                raise NotFoundError(f"no MCP server named {name!r}")
            grant = await self._authenticator.authenticate(Headers(scope=scope), request_id)
            if not virtual.admits(grant):
                self._refused(grant, name, request_id)
                raise PermissionDeniedError(
                    f"MCP server {name!r} is not available to this key's project or teams"
                )
        except AgentdeckError as error:
            await _error(scope, send, error)
            return
        scope[CALLER_KEY] = ToolCaller(grant, request_id=request_id)
        scope["user"] = _user(grant)
        await manager.handle_request(scope, receive, send)

    def _refused(self, grant: Grant, name: str, request_id: str | None) -> None:
        """Audit a key turned away from a server outside its project or teams (through the
        queue, as every refused request is)."""
        if self._audit is not None:
            self._audit.add(
                AuditEvent(grant.tenant_id, grant.actor, "mcp.denied", f"mcp/{name}",
                           after={"project": grant.project_id}, request_id=request_id)
            )  # fmt: skip


def _user(grant: Grant) -> AuthenticatedUser:
    """The key as the SDK's user, so a handshake-era session stays with the key that made it."""
    token = AccessToken(token=grant.key_id, client_id=grant.key_id, scopes=[],
                        subject=grant.principal_id)  # fmt: skip
    return AuthenticatedUser(token)


async def _error(scope: Scope, send: Send, error: AgentdeckError) -> None:
    """Answer with agentdeck's error shape (401 says how to authenticate)."""
    body = error.to_json()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="agentdeck"'))
    await send({"type": "http.response.start", "status": http_status(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})
