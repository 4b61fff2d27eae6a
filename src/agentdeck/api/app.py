"""The FastAPI application mounted at `/api`; its OpenAPI document is `/api/openapi.json`."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from agentdeck import __version__
from agentdeck.api import (
    access_routes,
    alert_routes,
    approval_routes,
    audit_routes,
    directory_routes,
    metrics_routes,
    prompt_routes,
    tool_routes,
    trace_routes,
)
from agentdeck.api.deps import (
    ApiServices,
    agentdeck_error,
    http_error,
    plain_text,
    validation_error,
)
from agentdeck.errors import AgentdeckError


def create_api(services: ApiServices) -> FastAPI:
    """The admin API over `services`."""
    api = FastAPI(
        title="agentdeck admin API",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(plain_text)],
        description="Tenants, projects, teams, users, roles, keys, limits, budgets, "
        "credentials, the audit log, gateway switches, traces, metrics, feedback, alerts, "
        "SLOs, the prompt registry (versions, labels, diff, rendering), the tool registry, "
        "tool calls and their approvals. Authenticate with "
        "an agentdeck key (`Authorization: Bearer ad_...` or `x-api-key`).",
    )
    api.state.services = services
    for router in (
        directory_routes.router,
        access_routes.router,
        audit_routes.router,
        trace_routes.router,
        metrics_routes.router,
        alert_routes.router,
        prompt_routes.router,
        tool_routes.router,
        approval_routes.router,
    ):
        api.include_router(router)
    api.add_exception_handler(AgentdeckError, agentdeck_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(HTTPException, http_error)
    return api
