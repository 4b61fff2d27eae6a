"""`/api/v1/approvals`: approval requests of high-risk tool calls in the caller's tenant. A
decision needs `tools:approve` on the tool, is never the requester's own, and is audited. An
approval shows the call's arguments, so a caller sees only those it may decide (`tools:approve`
on the tool) and those it requested; any other is 404, as if it did not exist."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from agentdeck.api.deps import ApiServices, Body, Services, deny, request_id, require
from agentdeck.api.trace_routes import Cursor, Limit
from agentdeck.identity.grants import Grant

router = APIRouter(prefix="/v1")
Reader = Annotated[Grant, Depends(require("tools:read"))]
Approver = Annotated[Grant, Depends(require("tools:approve"))]
ApprovalId = Annotated[str, Path(max_length=40)]
Status = Literal["pending", "approved", "denied", "used", "expired"]


class Decision(Body):
    reason: str | None = Field(default=None, max_length=2000, description="kept with it")


@router.get("/approvals", summary="List approval requests, newest first")
async def list_approvals(
    grant: Reader,
    svc: Services,
    status: Annotated[Status | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """The tenant's approval requests the caller may decide or requested, with their
    arguments; `status` filters."""
    found, following = await svc.approvals.page(grant, status, cursor, limit)
    return {"data": found, "next": following}


@router.get("/approvals/{approval_id}", summary="One approval request")
async def get_approval(approval_id: ApprovalId, grant: Reader, svc: Services) -> dict[str, Any]:
    """The approval request and its state; 404 unless the caller may decide it or requested it."""
    return await svc.approvals.get(grant.tenant_id, approval_id, viewer=grant)


async def _decide(
    request: Request,
    grant: Grant,
    svc: ApiServices,
    approval_id: str,
    approve: bool,
    body: Decision | None,
) -> dict[str, Any]:
    # 404 for an approval the caller may not even see: a 403 would confirm that the id exists.
    found = await svc.approvals.get(grant.tenant_id, approval_id, viewer=grant)
    if not grant.access.allows("tools:approve", "tools", found["tool"]):
        raise deny(request, grant, "tools:approve")
    reason = body.reason if body is not None else None
    return await svc.approvals.decide(grant, approval_id, approve, reason, request_id(request))


@router.post("/approvals/{approval_id}/approve", summary="Approve a pending call")
async def approve(
    request: Request,
    approval_id: ApprovalId,
    grant: Approver,
    svc: Services,
    body: Decision | None = None,
) -> dict[str, Any]:
    """The approval, now `approved`; 403 for its requester, 409 unless pending."""
    return await _decide(request, grant, svc, approval_id, True, body)


@router.post("/approvals/{approval_id}/deny", summary="Deny a pending call")
async def deny_approval(
    request: Request,
    approval_id: ApprovalId,
    grant: Approver,
    svc: Services,
    body: Decision | None = None,
) -> dict[str, Any]:
    """The approval, now `denied` (the call then gets a `denied` result)."""
    return await _decide(request, grant, svc, approval_id, False, body)
