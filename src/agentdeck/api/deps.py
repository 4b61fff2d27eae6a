"""What every `/api` route shares: the services, the authenticated caller, permission checks
(denials audited), and errors in agentdeck's JSON shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException

from agentdeck.errors import (
    AgentdeckError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PermissionDeniedError,
    http_status,
)
from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.gateway.switches import Switchboard
from agentdeck.identity.access_admin import AccessAdmin
from agentdeck.identity.audit_log import AuditEvent, AuditQueue
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.changes import Actor
from agentdeck.identity.directory import Directory
from agentdeck.identity.grants import Grant
from agentdeck.identity.vault import Vault
from agentdeck.limits.service import BudgetLedger
from agentdeck.prompts.resolver import PromptResolver
from agentdeck.prompts.service import PromptRegistry
from agentdeck.request_context import REQUEST_ID_KEY
from agentdeck.tools.approvals import Approvals
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.service import ToolRegistry
from agentdeck.tracing.alerts.history import AlertHistory
from agentdeck.tracing.alerts.store import AlertStore
from agentdeck.tracing.alerts.webhooks import WebhookDeliverer
from agentdeck.tracing.queries import TraceQueries

BIGINT_MAX = 2**63 - 1  # the largest integer a BigInteger column (and SQLite) holds
RESOURCE_MAX = 300  # audit_events.resource is String(300)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Body(BaseModel):
    """A request body: no unknown fields, and no NUL character anywhere (PostgreSQL text
    cannot hold one, so it would fail in the store instead of as a 400)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Body:
        if _has_nul(self.model_dump()):
            raise ValueError("text may not contain NUL characters")
        return self


async def plain_text(request: Request) -> None:
    """400 for a NUL character in the path or the query string (see `Body`)."""
    query = request.query_params.multi_items()
    if "\x00" in request.url.path or any(_has_nul([k, v]) for k, v in query):
        raise InvalidRequestError("the path and query may not contain NUL characters")


@dataclass(frozen=True, slots=True)
class ApiServices:
    """The services behind the admin API."""

    authenticator: Authenticator
    audit: AuditQueue
    directory: Directory
    engine: AsyncEngine
    access: AccessAdmin
    vault: Vault
    ledger: BudgetLedger
    catalog: ModelCatalog
    switches: Switchboard
    breakers: BreakerBoard
    platform_tenant: str
    traces: TraceQueries
    alerts: AlertStore
    alert_history: AlertHistory
    alert_deliverer: WebhookDeliverer
    prompts: PromptRegistry
    prompt_resolver: PromptResolver
    tools: ToolRegistry
    tool_executor: ToolExecutor
    approvals: Approvals
    # Runs a round of alert evaluation now (after a rule changed); None when alerts are off.
    wake_alerts: Callable[[], None] | None = None
    # Projects whose feedback keeps end-user ids as sent (`tracing.raw_user_id_projects`).
    raw_user_id_projects: frozenset[str] = frozenset()


def services(request: Request) -> ApiServices:
    """The services of the app serving `request`."""
    found: ApiServices = request.app.state.services
    return found


def request_id(request: Request) -> str | None:
    """The request id the front door gave this request."""
    return request.scope.get(REQUEST_ID_KEY)


async def caller(request: Request) -> Grant:
    """The authenticated caller (401 otherwise)."""
    return await services(request).authenticator.authenticate(request.headers, request_id(request))


Caller = Annotated[Grant, Depends(caller)]
Services = Annotated[ApiServices, Depends(services)]


def deny(request: Request, grant: Grant, permission: str) -> PermissionDeniedError:
    """Audit a refused call and build its 403."""
    services(request).audit.add(
        AuditEvent(
            grant.tenant_id,
            grant.actor,
            "api.denied",
            f"{request.method} {request.url.path}"[:RESOURCE_MAX],
            after={"missing": permission},
            request_id=request_id(request),
        )
    )
    return PermissionDeniedError(f"{grant.actor} lacks permission {permission!r}")


def require(permission: str) -> Callable[[Request, Grant], Awaitable[Grant]]:
    """A dependency: the caller, if some role of theirs grants `permission`."""

    async def check(request: Request, grant: Caller) -> Grant:
        if not grant.access.allows(permission):
            raise deny(request, grant, permission)
        return grant

    return check


def actor(request: Request, grant: Grant) -> Actor:
    """The audit actor of a change made by `grant` in `request`."""
    return Actor(grant.tenant_id, grant.actor, request_id(request))


async def agentdeck_error(request: Request, exc: Exception) -> Response:
    """An AgentdeckError as its status and JSON body."""
    assert isinstance(exc, AgentdeckError)
    return Response(exc.to_json(), http_status(exc), exc.headers or None, "application/json")


async def validation_error(request: Request, exc: Exception) -> Response:
    """A body or parameter that fails validation: 400 naming the first field."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    error = InvalidRequestError(f"{where or 'body'}: {first.get('msg')}", param=where or None)
    return await agentdeck_error(request, error)


async def http_error(request: Request, exc: Exception) -> Response:
    """The router's own 404 and 405 in agentdeck's error shape (FastAPI's is `{"detail"}`)."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    error: AgentdeckError
    if exc.status_code == 405:
        error = MethodNotAllowedError(f"{where} is not allowed", headers=headers)
    elif exc.status_code == 404:
        error = NotFoundError(f"no route {where}", headers=headers)
    else:
        error = AgentdeckError(str(exc.detail), headers=headers)
        return Response(error.to_json(), exc.status_code, headers or None, "application/json")
    return await agentdeck_error(request, error)
