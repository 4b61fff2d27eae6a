"""`/api/v1`: keys, rate limits and budgets with their usage, and provider credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from agentdeck.api.deps import (
    BIGINT_MAX,
    ApiServices,
    Body,
    Caller,
    Services,
    actor,
    deny,
    require,
)
from agentdeck.errors import NotFoundError
from agentdeck.identity.grants import Grant
from agentdeck.limits.policy import LimitRule, budget_of

router = APIRouter(prefix="/v1")
LimitReader = Annotated[Grant, Depends(require("limits:read"))]
LimitManager = Annotated[Grant, Depends(require("limits:manage"))]
CredentialManager = Annotated[Grant, Depends(require("credentials:manage"))]
OVERLAP_MAX = 10 * 366 * 86_400  # ten years; more would overflow a timestamp


class NewKey(Body):
    principal_id: str | None = Field(default=None, description="default: the caller")
    project_id: str | None = Field(default=None, description="default: the caller's project")
    name: str = Field(default="key", min_length=1, max_length=200)
    expires_at: datetime | None = None
    allowed_models: list[str] | None = Field(default=None, description="alias name patterns")
    env: str | None = Field(default=None, description="key env tag, e.g. live or test")


class Rotation(Body):
    overlap_s: int = Field(
        default=3600, ge=0, le=OVERLAP_MAX, description="how long the old key keeps working"
    )


class NewLimit(Body):
    scope_kind: Literal["tenant", "project", "team", "user", "key", "model"]
    scope_id: str = Field(min_length=1)
    metric: Literal["requests", "tokens", "cost"]
    amount: int = Field(
        ge=0, le=BIGINT_MAX, description="per minute; for cost: micro-dollars per period"
    )
    period: Literal["minute", "day", "month", "total"] = "minute"
    soft_percent: int | None = Field(default=None, ge=1, le=99)


class NewCredential(Body):
    value: str = Field(min_length=1)


def _may_manage_keys(request: Request, grant: Grant, principal_id: str) -> None:
    if grant.access.allows("keys:manage"):
        return
    if principal_id == grant.principal_id and grant.access.allows("keys:own"):
        return
    raise deny(request, grant, "keys:manage")


async def _key_to_manage(
    request: Request, grant: Grant, svc: ApiServices, key_id: str
) -> dict[str, Any]:
    """A key the caller may see and change. Without `keys:manage`, a key of someone else and
    a key that does not exist both answer 403: ids are not revealed to the curious."""
    try:
        found = await svc.access.key(grant.tenant_id, key_id)
    except NotFoundError:
        if grant.access.allows("keys:manage"):
            raise
        raise deny(request, grant, "keys:manage") from None
    _may_manage_keys(request, grant, found["principal_id"])
    return found


@router.get("/keys", summary="List keys (never the keys themselves)")
async def list_keys(grant: Caller, svc: Services) -> list[dict[str, Any]]:
    """All keys of the tenant with `keys:manage`; one's own keys otherwise."""
    mine = None if grant.access.allows("keys:manage") else grant.principal_id
    return await svc.access.list_keys(grant.tenant_id, mine)


@router.post("/keys", status_code=201, summary="Create a key (shown once)")
async def create_key(request: Request, body: NewKey, grant: Caller, svc: Services) -> Any:
    """A new key; the response holds the key itself, which is not stored and not shown again."""
    principal_id = body.principal_id or grant.principal_id
    _may_manage_keys(request, grant, principal_id)
    record, key = await svc.access.create_key(
        actor(request, grant),
        principal_id,
        body.project_id or grant.project_id,
        body.name,
        body.expires_at,
        body.allowed_models,
        body.env,
    )
    return {**record, "key": key}


@router.get("/keys/{key_id}", summary="One key")
async def get_key(request: Request, key_id: str, grant: Caller, svc: Services) -> Any:
    """A key's record."""
    return await _key_to_manage(request, grant, svc, key_id)


@router.post("/keys/{key_id}/rotate", status_code=201, summary="Rotate a key with an overlap")
async def rotate_key(
    request: Request, key_id: str, body: Rotation, grant: Caller, svc: Services
) -> Any:
    """A new key; the old one expires after `overlap_s` seconds."""
    await _key_to_manage(request, grant, svc, key_id)
    record, key = await svc.access.rotate_key(actor(request, grant), key_id, body.overlap_s)
    return {**record, "key": key}


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def revoke_key(request: Request, key_id: str, grant: Caller, svc: Services) -> Any:
    """Revoked on every replica within seconds."""
    await _key_to_manage(request, grant, svc, key_id)
    return await svc.access.revoke_key(actor(request, grant), key_id)


@router.get("/limits", summary="List rate limits and budgets")
async def list_limits(grant: LimitReader, svc: Services) -> list[dict[str, Any]]:
    """The tenant's limit rules."""
    return await svc.access.list_limits(grant.tenant_id)


@router.put("/limits", summary="Set a rate limit or budget")
async def set_limit(request: Request, body: NewLimit, grant: LimitManager, svc: Services) -> Any:
    """Create or replace the rule for (scope, metric, period)."""
    rule = LimitRule(
        "",
        grant.tenant_id,
        body.scope_kind,
        body.scope_id,
        body.metric,
        body.amount,
        body.period,
        body.soft_percent,
    )
    known = {alias.name for alias in svc.catalog.aliases()}
    return await svc.access.set_limit(actor(request, grant), rule, known)


@router.delete("/limits/{limit_id}", status_code=204, summary="Remove a limit")
async def delete_limit(request: Request, limit_id: str, grant: LimitManager, svc: Services) -> None:
    """Remove a rule."""
    await svc.access.delete_limit(actor(request, grant), limit_id)


@router.get("/budgets", summary="Budgets with spent and reserved micro-dollars")
async def budgets(grant: LimitReader, svc: Services) -> list[dict[str, Any]]:
    """Each budget of the tenant with its current period's spent and reserved amounts."""
    out = []
    for row in await svc.access.list_limits(grant.tenant_id):
        if row["metric"] != "cost":
            continue
        rule = LimitRule(
            row["id"],
            row["tenant_id"],
            row["scope_kind"],
            row["scope_id"],
            "cost",
            row["amount"],
            row["period"],
            row["soft_percent"],
        )
        spent, reserved = await svc.ledger.usage(budget_of(rule))
        out.append({**row, "spent_micros": spent, "reserved_micros": reserved})
    return out


@router.get("/credentials", summary="List stored credentials (names only)")
async def list_credentials(grant: CredentialManager, svc: Services) -> list[dict[str, Any]]:
    """Names, versions and times; never values."""
    return await svc.vault.names(grant.tenant_id)


@router.put("/credentials/{name}", summary="Store or rotate a credential")
async def put_credential(
    request: Request, name: str, body: NewCredential, grant: CredentialManager, svc: Services
) -> Any:
    """Encrypted with the tenant's data key; the value is never returned."""
    return await svc.vault.put(actor(request, grant), name, body.value)


@router.delete("/credentials/{name}", status_code=204, summary="Delete a credential")
async def delete_credential(
    request: Request, name: str, grant: CredentialManager, svc: Services
) -> None:
    """Remove a credential."""
    await svc.vault.delete(actor(request, grant), name)
