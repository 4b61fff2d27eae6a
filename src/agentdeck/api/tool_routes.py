"""`/api/v1/tools`: the tool registry of the caller's tenant, and calls through the executor.
A tool is tenant-wide unless its `project` (id or slug) narrows it to one project."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field

from agentdeck.api.deps import Body, Services, request_id, require
from agentdeck.api.trace_routes import Cursor, Limit
from agentdeck.errors import NotFoundError
from agentdeck.identity.grants import Grant
from agentdeck.tools.models import ToolCaller, check_tool_name
from agentdeck.tools.service import Editor
from agentdeck.tools.store import spec_from, spec_json
from agentdeck.tracing.spans import parse_traceparent

router = APIRouter(prefix="/v1")
Reader = Annotated[Grant, Depends(require("tools:read"))]
Manager = Annotated[Grant, Depends(require("tools:manage"))]
Executor = Annotated[Grant, Depends(require("tools:execute"))]
ToolName = Annotated[str, Path(max_length=64, description="the tool's name")]
_Names = Field(default=None, max_length=100, description="null: no narrowing")


class HttpBody(Body):
    kind: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    url: str = Field(
        max_length=2000,
        pattern=r"^https?://",
        description="a template: `{argument}` is filled with the argument, percent-encoded",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="values may name credentials: `{{credential:name}}`"
    )
    body: Literal["json", "none"] = "json"


class PythonBody(Body):
    kind: Literal["python"]
    entry_point: str = Field(min_length=1, max_length=200, description="in `agentdeck.tools`")


class McpBody(Body):
    kind: Literal["mcp"]
    server: str = Field(min_length=1, max_length=64)
    tool: str = Field(min_length=1, max_length=200)


class RetryBody(Body):
    attempts: int = Field(default=1, ge=1, le=10, description="total tries")
    backoff_s: float = Field(default=0.2, ge=0, le=60, description="first pause, doubled")


class ToolBody(Body):
    """A tool's spec (its name is in the path)."""

    description: str = Field(default="", max_length=4000)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    implementation: HttpBody | PythonBody | McpBody = Field(discriminator="kind")
    version: str = Field(default="1", min_length=1, max_length=64)
    owner: str | None = Field(default=None, max_length=200)
    risk: Literal["low", "medium", "high"] = "low"
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    retry: RetryBody = Field(default_factory=RetryBody)
    examples: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    project: str | None = Field(default=None, max_length=64, description="id or slug")
    allowed_keys: list[str] | None = _Names
    allowed_agents: list[str] | None = _Names


class CallBody(Body):
    """The arguments of one call, and what binds an approval to it."""

    arguments: Any = Field(default_factory=dict)
    approval_id: str | None = Field(default=None, max_length=40)
    run_id: str | None = Field(default=None, max_length=200)


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


@router.get("/tools", summary="List the tools the key's project sees")
async def list_tools(
    request: Request, grant: Reader, svc: Services, cursor: Cursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The tools by name, each saying whether this caller may call it."""
    found, following = await svc.tools.store.page(grant.tenant_id, grant.project_id, cursor, limit)
    return {
        "data": [
            {**spec_json(spec), "callable": svc.tool_executor.allowed(spec, ToolCaller(grant))}
            for spec in found
        ],
        "next": following,
    }


@router.get("/tools/{name}", summary="One tool")
async def get_tool(name: ToolName, grant: Reader, svc: Services) -> dict[str, Any]:
    """The tool's spec (credentials appear by name only)."""
    spec = await svc.tools.get(grant.tenant_id, name)
    if spec.project_id is not None and spec.project_id != grant.project_id:
        raise NotFoundError(f"no tool {name!r}", param="name")
    return spec_json(spec)


@router.put("/tools/{name}", status_code=201, summary="Register or replace a tool")
async def put_tool(
    request: Request, name: ToolName, body: ToolBody, grant: Manager, svc: Services
) -> Response:
    """201 when the tool is new, 200 when it replaced one; 400 naming a bad field."""
    check_tool_name(name)
    data = body.model_dump()
    if body.project is not None:
        data["project"] = await svc.tools.store.find_project(grant.tenant_id, body.project)
    spec = spec_from({**data, "name": name}, grant.tenant_id)
    created = await svc.tools.put(Editor(grant.tenant_id, grant.actor, request_id(request)), spec)
    return _json(spec_json(spec), 201 if created else 200)


@router.delete("/tools/{name}", status_code=204, summary="Remove a tool")
async def delete_tool(request: Request, name: ToolName, grant: Manager, svc: Services) -> Response:
    """204; 404 when there is no such tool."""
    await svc.tools.delete(Editor(grant.tenant_id, grant.actor, request_id(request)), name)
    return Response(status_code=204)


@router.post("/tools/{name}/call", summary="Call a tool through the executor")
async def call_tool(
    request: Request, name: ToolName, body: CallBody, grant: Executor, svc: Services
) -> Response:
    """200 with {"ok": true, "result"} or {"ok": false, "error": {"type", "message",
    "retriable"}, "approval_id"?}: the tool's outcome, whatever it is."""
    trace = parse_traceparent(request.headers.get("traceparent"))
    caller = ToolCaller(
        grant,
        run_id=body.run_id,
        request_id=request_id(request),
        trace_id=trace[0] if trace else None,
        parent_span_id=trace[1] if trace else None,
    )
    result = await svc.tool_executor.call(name, body.arguments, caller, body.approval_id)
    return _json(result.to_json())
