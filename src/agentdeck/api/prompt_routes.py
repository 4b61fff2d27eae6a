"""`/api/v1/prompts`: the prompt registry of the caller's tenant. A prompt belongs to a
project: the `project` query parameter (or body field) names it by id or slug, default the
key's project; another project of the tenant needs the permission there too (a role bound
tenant-wide or in that project)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from agentdeck.api.deps import ApiServices, Body, Caller, Services, deny, request_id, require
from agentdeck.api.trace_routes import Cursor, Limit
from agentdeck.errors import InvalidRequestError
from agentdeck.identity.grants import Grant
from agentdeck.prompts.models import (
    DEFAULT_LABEL,
    MAX_SPLITS,
    MAX_WEIGHT,
    VERSION_MAX,
    LabelTarget,
    PromptContent,
    PromptKey,
    PromptRef,
    Split,
    check_label,
    check_name,
)
from agentdeck.prompts.render import render_prompt
from agentdeck.prompts.service import Author, Authorize

router = APIRouter(prefix="/v1")
READ, WRITE, LABEL = "prompts:read", "prompts:write", "prompts:label"
Reader = Annotated[Grant, Depends(require(READ))]
Writer = Annotated[Grant, Depends(require("prompts:write"))]
Project = Annotated[str | None, Query(max_length=64, description="id or slug; default: the key's")]
Number = Annotated[int, Path(ge=1, le=VERSION_MAX)]
Message = Field(default="", max_length=2000, description="why (kept with the change)")
ProjectField = Field(default=None, max_length=64, description="id or slug; default: the key's")
Name = Annotated[str, Path(description="the prompt's name (may contain `/`)")]


async def _mover(request: Request, grant: Caller) -> Grant:
    """The caller, if it may move some label: `prompts:write` or `prompts:label`."""
    if not (grant.access.allows(WRITE) or grant.access.allows(LABEL)):
        raise deny(request, grant, WRITE)
    return grant


Mover = Annotated[Grant, Depends(_mover)]


class NewVersion(Body, PromptContent):
    """A version's content, its commit message, and optionally the project."""

    message: str = Message
    project: str | None = ProjectField


class SplitBody(Body):
    version: int = Field(ge=1, le=VERSION_MAX)
    weight: int = Field(ge=1, le=MAX_WEIGHT)


class LabelMove(Body):
    version: int | None = Field(default=None, ge=1, le=VERSION_MAX)
    splits: list[SplitBody] | None = Field(default=None, min_length=1, max_length=MAX_SPLITS)
    protected: bool | None = None
    message: str = Message


class RollbackBody(Body):
    message: str = Message
    project: str | None = ProjectField


class RenderBody(Body):
    project: str | None = ProjectField
    label: str | None = Field(default=None, max_length=64)
    version: int | None = Field(default=None, ge=1, le=VERSION_MAX)
    variables: dict[str, Any] = Field(default_factory=dict)
    sticky: str | None = Field(default=None, max_length=256)


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def _author(request: Request, grant: Grant) -> Author:
    return Author(grant.tenant_id, grant.actor, request_id(request))


async def _place(
    request: Request, grant: Grant, svc: ApiServices, project: str | None, *permissions: str
) -> tuple[str, Authorize]:
    """The project a call names, once the caller holds one of `permissions` there; and a
    check of further permissions in that project (403, audited)."""
    project_id, access = await svc.prompts.project_access(grant, project)
    if not any(access.allows(p) for p in permissions):
        raise deny(request, grant, permissions[0])

    def authorize(permission: str) -> None:
        if not access.allows(permission):
            raise deny(request, grant, permission)

    return project_id, authorize


async def _key(
    request: Request,
    grant: Grant,
    svc: ApiServices,
    name: str,
    project: str | None,
    *permissions: str,
) -> tuple[PromptKey, Authorize]:
    """The prompt a call names in the project it names (see `_place`)."""
    check_name(name)
    project_id, authorize = await _place(request, grant, svc, project, *permissions)
    return PromptKey(grant.tenant_id, project_id, name), authorize


def _either(body_project: str | None, query_project: str | None) -> str | None:
    if body_project is not None and query_project is not None and body_project != query_project:
        raise InvalidRequestError("the body and the query name different projects", param="project")
    return body_project if body_project is not None else query_project


@router.get("/prompts", summary="List prompts of a project")
async def list_prompts(
    request: Request,
    grant: Reader,
    svc: Services,
    project: Project = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """The project's prompts by name, each with its type, latest version and labels."""
    project_id, _ = await _place(request, grant, svc, project, READ)
    return await svc.prompts.list_prompts(grant.tenant_id, project_id, cursor, limit)


@router.post(
    "/prompts/{name:path}/versions",
    status_code=201,
    summary="Create a version (the first creates the prompt)",
)
async def create_version(
    request: Request,
    name: Name,
    body: NewVersion,
    grant: Writer,
    svc: Services,
    project: Project = None,
) -> Response:
    """201 with the new version; 200 with the latest when its content is the same."""
    key, _ = await _key(request, grant, svc, name, _either(body.project, project), WRITE)
    content = PromptContent(**body.model_dump(exclude={"message", "project"}))
    created, version = await svc.prompts.create_version(
        _author(request, grant), key, content, body.message
    )
    return _json({"created": created, "version": version.to_json()}, 201 if created else 200)


@router.get("/prompts/{name:path}/versions", summary="List a prompt's versions, newest first")
async def list_versions(
    request: Request,
    name: Name,
    grant: Reader,
    svc: Services,
    project: Project = None,
    include_archived: bool = False,
) -> dict[str, Any]:
    """Every version without its content (archived ones only when asked for)."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    found = await svc.prompts.versions(key, include_archived)
    return {"data": [version.to_json(with_content=False) for version in found], "next": None}


@router.get("/prompts/{name:path}/versions/{number}", summary="One version with its content")
async def get_version(
    request: Request,
    name: Name,
    number: Number,
    grant: Reader,
    svc: Services,
    project: Project = None,
) -> dict[str, Any]:
    """A version of the prompt."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    return (await svc.prompts.version(key, number)).to_json()


@router.post("/prompts/{name:path}/versions/{number}/archive", summary="Archive a version")
async def archive_version(
    request: Request,
    name: Name,
    number: Number,
    grant: Writer,
    svc: Services,
    project: Project = None,
) -> dict[str, Any]:
    """The version, archived: no label may be moved to it (one pointing at it still serves it)."""
    key, _ = await _key(request, grant, svc, name, project, WRITE)
    found = await svc.prompts.set_archived(_author(request, grant), key, number, True)
    return found.to_json()


@router.post("/prompts/{name:path}/versions/{number}/unarchive", summary="Unarchive a version")
async def unarchive_version(
    request: Request,
    name: Name,
    number: Number,
    grant: Writer,
    svc: Services,
    project: Project = None,
) -> dict[str, Any]:
    """The version, no longer archived."""
    key, _ = await _key(request, grant, svc, name, project, WRITE)
    found = await svc.prompts.set_archived(_author(request, grant), key, number, False)
    return found.to_json()


@router.put("/prompts/{name:path}/labels/{label}", summary="Move (or create) a label")
async def move_label(
    request: Request,
    name: Name,
    label: str,
    body: LabelMove,
    grant: Mover,
    svc: Services,
    project: Project = None,
) -> dict[str, Any]:
    """Point the label at a version or weighted splits, and/or change its protection."""
    key, authorize = await _key(request, grant, svc, name, project, WRITE, LABEL)
    target = None
    if body.version is not None or body.splits is not None:
        splits = tuple(Split(s.version, s.weight) for s in body.splits) if body.splits else None
        target = LabelTarget(body.version, splits)
    state = await svc.prompts.move_label(
        _author(request, grant), key, check_label(label), target, body.protected, body.message,
        authorize,
    )  # fmt: skip
    return state.to_json()


@router.delete("/prompts/{name:path}/labels/{label}", status_code=204, summary="Delete a label")
async def delete_label(
    request: Request, name: Name, label: str, grant: Mover, svc: Services, project: Project = None
) -> Response:
    """Remove the label (its history stays)."""
    key, authorize = await _key(request, grant, svc, name, project, WRITE, LABEL)
    await svc.prompts.delete_label(_author(request, grant), key, check_label(label), authorize)
    return Response(status_code=204)


@router.get("/prompts/{name:path}/labels/{label}/history", summary="A label's moves, newest first")
async def label_history(
    request: Request,
    name: Name,
    label: str,
    grant: Reader,
    svc: Services,
    project: Project = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Every move of the label: from, to, who, when, why, in which request."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    before = int(cursor) if cursor is not None else None
    return await svc.prompts.history(key, label, before, limit)


@router.post(
    "/prompts/{name:path}/labels/{label}/rollback",
    summary="Move a label back to its previous target",
)
async def rollback_label(
    request: Request,
    name: Name,
    label: str,
    grant: Mover,
    svc: Services,
    body: RollbackBody | None = None,
    project: Project = None,
) -> dict[str, Any]:
    """The label, moved back to the target it had before its last move."""
    body = body or RollbackBody()
    where = _either(body.project, project)
    key, authorize = await _key(request, grant, svc, name, where, WRITE, LABEL)
    state = await svc.prompts.rollback(
        _author(request, grant), key, check_label(label), body.message, authorize
    )
    return state.to_json()


@router.get("/prompts/{name:path}/diff", summary="The difference between two versions")
async def diff_versions(
    request: Request,
    name: Name,
    grant: Reader,
    svc: Services,
    project: Project = None,
    start: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=64)] = None,
) -> dict[str, Any]:
    """A unified diff and the changed JSON paths between versions named by number or label
    (default: the latest and the one before it)."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    return await svc.prompts.diff(key, start, end)


def _ref(name: str, label: str | None, version: int | None) -> PromptRef:
    if label is not None and version is not None:
        raise InvalidRequestError("give label or version, not both", param="label")
    if version is not None:
        return PromptRef(name, None, version)
    return PromptRef(name, check_label(label) if label is not None else DEFAULT_LABEL)


@router.get("/prompts/{name:path}/resolve", summary="The version a label serves")
async def resolve_prompt(
    request: Request,
    name: Name,
    grant: Reader,
    svc: Services,
    project: Project = None,
    label: Annotated[str | None, Query(max_length=64)] = None,
    version: Annotated[int | None, Query(ge=1, le=VERSION_MAX)] = None,
    sticky: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The version a label (default `production`) serves to `sticky`, or a version by number."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    found = await svc.prompt_resolver.resolve(
        key.tenant_id, key.project_id, _ref(name, label, version), sticky
    )
    return found.to_json()


@router.post("/prompts/{name:path}/render", summary="Render a version with variables")
async def render(
    request: Request,
    name: Name,
    body: RenderBody,
    grant: Reader,
    svc: Services,
    project: Project = None,
) -> dict[str, Any]:
    """The messages (chat) or text (text) of the version the reference serves, with its
    model parameters, model and tools."""
    key, _ = await _key(request, grant, svc, name, _either(body.project, project), READ)
    version = await svc.prompt_resolver.resolve(
        key.tenant_id, key.project_id, _ref(name, body.label, body.version), body.sticky
    )
    rendered = render_prompt(version, body.variables)
    shown: dict[str, Any] = {"name": name, "version": version.version, "type": version.type}
    if version.type == "text":
        shown["text"] = rendered.text
    else:
        shown["messages"] = rendered.messages
    return shown | {"params": rendered.params, "model": rendered.model, "tools": rendered.tools}


# Last: `{name:path}` alone would match every path above.
@router.get("/prompts/{name:path}", summary="One prompt with its labels")
async def get_prompt(
    request: Request, name: Name, grant: Reader, svc: Services, project: Project = None
) -> dict[str, Any]:
    """The prompt's type, latest version, labels and times."""
    key, _ = await _key(request, grant, svc, name, project, READ)
    return await svc.prompts.prompt(key)
