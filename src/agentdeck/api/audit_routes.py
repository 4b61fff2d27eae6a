"""`/api/v1/audit`: read, verify and export the caller's tenant's audit log;
`/api/v1/gateway`: kill switches and breaker states."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import StreamingResponse

from agentdeck.api.deps import BIGINT_MAX, Caller, Services, deny, request_id, require
from agentdeck.errors import InvalidRequestError, NotFoundError
from agentdeck.identity.audit_log import AuditEvent, append, events, verify_tenant
from agentdeck.identity.grants import Grant
from agentdeck.identity.tables import audit_events

router = APIRouter(prefix="/v1")
Auditor = Annotated[Grant, Depends(require("audit:read"))]


async def operator(request: Request, grant: Caller, svc: Services) -> Grant:
    """The caller, if they hold `gateway:manage` in the platform tenant: switches and breakers
    are shared by every tenant, so a tenant's own admin must not move them for all."""
    if grant.tenant_slug != svc.platform_tenant or not grant.access.allows("gateway:manage"):
        raise deny(request, grant, "gateway:manage")
    return grant


Operator = Annotated[Grant, Depends(operator)]


@router.get("/audit", summary="Audit events, oldest first, with a cursor")
async def list_events(
    grant: Auditor,
    svc: Services,
    after: Annotated[
        int, Query(ge=0, le=BIGINT_MAX, description="cursor: the last position seen")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
) -> dict[str, Any]:
    """A page of the tenant's events; `next` is the cursor of the next page (None at the end)."""
    query = (
        sa.select(audit_events)
        .where(audit_events.c.tenant_id == grant.tenant_id, audit_events.c.position > after)
        .order_by(audit_events.c.position)
        .limit(limit)
    )
    if action is not None:
        query = query.where(audit_events.c.action == action)
    async with svc.engine.connect() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(query)]
    return {"events": rows, "next": rows[-1]["position"] if len(rows) == limit else None}


@router.get("/audit/verify", summary="Verify the tenant's hash chain")
async def verify(grant: Auditor, svc: Services) -> dict[str, Any]:
    """Names the first bad position when the chain was edited, cut, reordered or forged."""
    verdict = await verify_tenant(svc.engine, grant.tenant_id)
    return {
        "ok": verdict.ok,
        "checked": verdict.checked,
        "bad_position": verdict.bad_position,
        "reason": verdict.reason,
    }


@router.get("/audit/export", summary="The tenant's audit log as JSON Lines")
async def export(grant: Auditor, svc: Services) -> StreamingResponse:
    """Every event, one JSON object per line, streamed."""

    async def lines() -> AsyncIterator[bytes]:
        async for event in events(svc.engine, grant.tenant_id):
            yield orjson.dumps(event) + b"\n"

    return StreamingResponse(lines(), media_type="application/jsonl")


@router.get("/gateway/switches", summary="Aliases and deployments switched off")
async def list_switches(grant: Operator, svc: Services) -> dict[str, Any]:
    """Everything switched off."""
    return {"off": svc.switches.off()}


@router.put("/gateway/switches/{kind}/{name:path}", summary="Switch an alias or deployment")
async def set_switch(
    request: Request,
    kind: str,
    name: str,
    grant: Operator,
    svc: Services,
    off: Annotated[bool, Body(embed=True, strict=True)],
) -> dict[str, Any]:
    """`{"off": true|false}`: switch off or on, on every replica."""
    if kind not in ("alias", "deployment"):
        raise InvalidRequestError("kind must be 'alias' or 'deployment'", param="kind")
    catalog = svc.catalog
    known = (
        {a.name for a in catalog.aliases()} if kind == "alias" else set(catalog.deployment_ids())
    )
    if name not in known:
        raise NotFoundError(f"no {kind} named {name!r}")
    was_off = any(entry == {"kind": kind, "name": name} for entry in svc.switches.off())
    await svc.switches.set("alias" if kind == "alias" else "deployment", name, off)
    event = AuditEvent(
        grant.tenant_id,
        grant.actor,
        "gateway.switch",
        f"{kind}/{name}",
        {"off": was_off},
        {"off": off},
        request_id(request),
    )
    async with svc.engine.begin() as conn:
        await append(conn, [event])
    return {"kind": kind, "name": name, "off": off}


@router.get("/gateway/breakers", summary="Circuit-breaker state of every deployment")
async def breakers(grant: Operator, svc: Services) -> dict[str, Any]:
    """Every deployment's breaker state."""
    states = {d: svc.breakers.state(d).name.lower() for d in svc.catalog.deployment_ids()}
    return {"breakers": states}
