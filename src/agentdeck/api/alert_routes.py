"""`/api/v1/alerts` (webhook channels, metric rules, the alert history) and `/api/v1/slos`
(service-level objectives with their error budgets): the caller's tenant only."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from agentdeck.api.deps import Body, Services, request_id, require
from agentdeck.api.trace_routes import Cursor, Limit, ns_of
from agentdeck.identity.grants import Grant
from agentdeck.tracing.alerts.models import MetricRuleSpec, SloSpec
from agentdeck.tracing.alerts.slo import DAY_S, burn_windows, slo_counts, slo_status
from agentdeck.tracing.alerts.store import Author, new_id, rule_json
from agentdeck.tracing.alerts.webhooks import payload
from agentdeck.tracing.queries import iso_time

router = APIRouter(prefix="/v1")
Reader = Annotated[Grant, Depends(require("alerts:read"))]
Manager = Annotated[Grant, Depends(require("alerts:manage"))]
SECRET = Field(default=None, min_length=16, max_length=200, description="signing secret")


class NewChannel(Body):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL receiving POSTs")
    secret: str | None = SECRET


class ChannelChange(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    secret: str | None = SECRET


class RuleBody(Body, MetricRuleSpec):
    """A metric rule (see `MetricRuleSpec`)."""


class SloBody(Body, SloSpec):
    """A service-level objective (see `SloSpec`)."""


def _author(request: Request, grant: Grant) -> Author:
    return Author(grant.tenant_id, grant.actor, request_id(request))


def _wake(request: Request) -> None:
    wake = request.app.state.services.wake_alerts
    if wake is not None:
        wake()


# Channels


@router.get("/alerts/channels", summary="List alert channels (never their secrets)")
async def list_channels(grant: Reader, svc: Services) -> list[dict[str, Any]]:
    """The tenant's webhook channels."""
    return await svc.alerts.channels(grant.tenant_id)


@router.post("/alerts/channels", status_code=201, summary="Create a webhook channel")
async def create_channel(
    request: Request, body: NewChannel, grant: Manager, svc: Services
) -> dict[str, Any]:
    """A new channel; the answer holds its signing secret (generated when not given), which
    is not shown again."""
    return await svc.alerts.create_channel(
        _author(request, grant), body.name, body.url, body.secret
    )


@router.get("/alerts/channels/{channel_id}", summary="One alert channel")
async def get_channel(channel_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """A channel of the tenant."""
    return await svc.alerts.channel(grant.tenant_id, channel_id)


@router.patch("/alerts/channels/{channel_id}", summary="Change a channel's name, url or secret")
async def change_channel(
    request: Request, channel_id: str, body: ChannelChange, grant: Manager, svc: Services
) -> dict[str, Any]:
    """The changed channel (with the secret when one was set)."""
    return await svc.alerts.update_channel(
        _author(request, grant), channel_id, body.model_dump(exclude_none=True)
    )


@router.delete("/alerts/channels/{channel_id}", status_code=204, summary="Delete a channel")
async def delete_channel(
    request: Request, channel_id: str, grant: Manager, svc: Services
) -> Response:
    """Remove a channel that no rule or SLO sends to (409 otherwise)."""
    await svc.alerts.delete_channel(_author(request, grant), channel_id)
    return Response(status_code=204)


@router.post("/alerts/channels/{channel_id}/test", summary="Send a signed test delivery now")
async def test_channel(channel_id: str, grant: Manager, svc: Services) -> dict[str, Any]:
    """POST a signed `alert.test` event to the channel once and report the receiver's answer
    (nothing is stored or retried)."""
    await svc.alerts.channel(grant.tenant_id, channel_id)  # 404 for another tenant's
    target = await svc.alerts.channel_target(grant.tenant_id, channel_id)
    assert target is not None
    refused = await svc.alert_deliverer.refused(target[0])
    if refused is not None:
        return {"delivered": False, "status": None, "error": refused}
    now = time.time_ns()
    event_id = new_id("ale_test")
    event: dict[str, Any] = {
        "id": event_id,
        "rule_id": None,
        "rule_kind": None,
        "rule_name": None,
        "state": "test",
        "severity": "info",
        "value": None,
        "threshold": None,
        "message": "a test delivery from agentdeck",
        "details": {},
        "at": iso_time(now),
        "at_ns": now,
    }
    delivery_id = new_id("ald_test")
    body = payload(event, grant.tenant_id, delivery_id, 1)
    ids = {"X-Agentdeck-Event": event_id, "X-Agentdeck-Delivery": delivery_id}
    status, error, _ = await svc.alert_deliverer.send(target[0], target[1], body, ids)
    delivered = status is not None and 200 <= status < 300
    return {"delivered": delivered, "status": status, "error": error}


# Metric rules


@router.get("/alerts/rules", summary="List alert rules")
async def list_rules(grant: Reader, svc: Services) -> list[dict[str, Any]]:
    """The tenant's metric rules with their state and last value."""
    return await svc.alerts.rules(grant.tenant_id, "metric")


@router.post("/alerts/rules", status_code=201, summary="Create an alert rule")
async def create_rule(
    request: Request, body: RuleBody, grant: Manager, svc: Services
) -> dict[str, Any]:
    """A new metric rule, evaluated at once and then every `interval_s`."""
    spec = MetricRuleSpec(**body.model_dump())
    found = await svc.alerts.create_rule(_author(request, grant), spec)
    _wake(request)
    return found


@router.get("/alerts/rules/{rule_id}", summary="One alert rule")
async def get_rule(rule_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """A metric rule with its state, last value and last error."""
    return await svc.alerts.rule(grant.tenant_id, "metric", rule_id)


@router.put("/alerts/rules/{rule_id}", summary="Replace an alert rule")
async def replace_rule(
    request: Request, rule_id: str, body: RuleBody, grant: Manager, svc: Services
) -> dict[str, Any]:
    """Replace what a rule says; switching a firing rule off resolves it."""
    found = await svc.alerts.replace_rule(
        _author(request, grant), rule_id, MetricRuleSpec(**body.model_dump())
    )
    _wake(request)
    return found


@router.delete("/alerts/rules/{rule_id}", status_code=204, summary="Delete an alert rule")
async def delete_rule(request: Request, rule_id: str, grant: Manager, svc: Services) -> Response:
    """Remove a rule; a firing rule resolves first."""
    await svc.alerts.delete_rule(_author(request, grant), "metric", rule_id)
    _wake(request)
    return Response(status_code=204)


# History


@router.get("/alerts/events", summary="The alert history, newest first")
async def list_events(
    grant: Reader,
    svc: Services,
    rule_id: Annotated[str | None, Query(max_length=40)] = None,
    state: Annotated[Literal["firing", "resolved"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Each time a rule or SLO started firing, changed severity or resolved."""
    return await svc.alert_history.events(
        grant.tenant_id,
        rule_id,
        state,
        ns_of(since, "since"),
        ns_of(until, "until"),
        cursor,
        limit,
    )


@router.get("/alerts/events/{event_id}", summary="One alert event with its deliveries")
async def get_event(event_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """An event and, per channel, its delivery's status, attempts and last answer."""
    return await svc.alert_history.event(grant.tenant_id, event_id)


# SLOs


@router.get("/slos", summary="List SLOs")
async def list_slos(grant: Reader, svc: Services) -> list[dict[str, Any]]:
    """The tenant's SLOs with their alert state (the error budget is on each SLO's page)."""
    return await svc.alerts.rules(grant.tenant_id, "slo")


@router.post("/slos", status_code=201, summary="Create an SLO")
async def create_slo(request: Request, body: SloBody, grant: Manager, svc: Services) -> Any:
    """A new objective, evaluated at once and then every `interval_s`."""
    found = await svc.alerts.create_rule(_author(request, grant), SloSpec(**body.model_dump()))
    _wake(request)
    return found


@router.get("/slos/{slo_id}", summary="One SLO with its error budget and burn rates")
async def get_slo(slo_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """The objective, its alert state, and its status now: the SLI and error budget over the
    period, and every burn-rate alert's current long and short rates."""
    row = await svc.alerts.rule_row(grant.tenant_id, "slo", slo_id)
    spec = SloSpec.model_validate_json(row.spec)
    windows = burn_windows(spec) | {spec.period_days * DAY_S}
    counts = await slo_counts(svc.engine, row.tenant_id, spec, time.time_ns(), windows)
    return {**rule_json(row), "status": slo_status(spec, counts)}


@router.put("/slos/{slo_id}", summary="Replace an SLO")
async def replace_slo(
    request: Request, slo_id: str, body: SloBody, grant: Manager, svc: Services
) -> Any:
    """Replace what an SLO says; switching a firing SLO off resolves it."""
    found = await svc.alerts.replace_rule(
        _author(request, grant), slo_id, SloSpec(**body.model_dump())
    )
    _wake(request)
    return found


@router.delete("/slos/{slo_id}", status_code=204, summary="Delete an SLO")
async def delete_slo(request: Request, slo_id: str, grant: Manager, svc: Services) -> Response:
    """Remove an SLO; a firing SLO resolves first."""
    await svc.alerts.delete_rule(_author(request, grant), "slo", slo_id)
    _wake(request)
    return Response(status_code=204)
