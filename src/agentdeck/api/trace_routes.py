"""`/api/v1/spans`, `/api/v1/traces`, `/api/v1/traces/{trace_id}`, `/api/v1/sessions`: the
caller's tenant's traces, filtered, newest first, with cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from agentdeck.api.deps import BIGINT_MAX, Services, require
from agentdeck.errors import InvalidRequestError
from agentdeck.identity.grants import Grant
from agentdeck.tracing.queries import MAX_PAGE, SpanFilter
from agentdeck.tracing.spans import STATUSES

router = APIRouter(prefix="/v1")
Reader = Annotated[Grant, Depends(require("traces:read"))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Name = Annotated[str | None, Query(max_length=256)]
Micros = Annotated[int | None, Query(ge=0, le=BIGINT_MAX)]
Millis = Annotated[float | None, Query(ge=0, le=10**9)]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_of(moment: datetime | None, name: str) -> int | None:
    """A query time as nanoseconds since the epoch, exact to the microsecond (a float
    timestamp would be off by some hundred nanoseconds); a time without zone is a 400."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidRequestError(
            f"{name} needs a time zone (for example a trailing Z)", param=name
        )
    # Nanoseconds in a signed 64-bit column reach the year 2262: clamp what lies beyond.
    ns = (moment - EPOCH) // timedelta(microseconds=1) * 1000
    return max(0, min(ns, BIGINT_MAX))


def span_filter(
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    project_id: Name = None,
    trace_id: Annotated[str | None, Query(pattern="^[0-9a-f]{32}$")] = None,
    session_id: Name = None,
    user_id: Name = None,
    model: Name = None,
    operation: Name = None,
    provider: Name = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    source: Annotated[str | None, Query(pattern="^(gateway|otlp)$")] = None,
    prompt_name: Name = None,
    prompt_version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    deployment: Name = None,
    tool: Name = None,
    tag: Name = None,
    text: Name = None,
    min_cost_micros: Micros = None,
    max_cost_micros: Micros = None,
    min_duration_ms: Millis = None,
    max_duration_ms: Millis = None,
) -> SpanFilter:
    """The filter the query parameters describe."""
    return SpanFilter(
        since_ns=ns_of(since, "since"),
        until_ns=ns_of(until, "until"),
        project_id=project_id,
        trace_id=trace_id,
        session_id=session_id,
        user_id=user_id,
        model=model,
        operation=operation,
        provider=provider,
        status=status,
        source=source,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        deployment=deployment,
        tool=tool,
        tag=tag,
        text=text,
        min_cost_micros=min_cost_micros,
        max_cost_micros=max_cost_micros,
        min_duration_ms=min_duration_ms,
        max_duration_ms=max_duration_ms,
    )


Filter = Annotated[SpanFilter, Depends(span_filter)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next` of the previous page")]


@router.get("/spans", summary="Spans, newest first, with a cursor")
async def list_spans(
    grant: Reader, svc: Services, where: Filter, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    """A page of the tenant's spans matching every filter given."""
    found, after = await svc.traces.spans(grant.tenant_id, where, limit, cursor)
    return {"data": found, "next": after}


@router.get("/traces", summary="Traces (their root spans with totals), newest first")
async def list_traces(
    grant: Reader, svc: Services, where: Filter, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    """A page of traces whose root span matches every filter given, each with the span
    count, cost, tokens and errors of the whole trace."""
    found, after = await svc.traces.traces(grant.tenant_id, where, limit, cursor)
    return {"data": found, "next": after}


@router.get("/traces/{trace_id}", summary="One trace as a span tree")
async def get_trace(grant: Reader, svc: Services, trace_id: str) -> dict[str, Any]:
    """Every span of the trace, nested under its parent."""
    return await svc.traces.trace(grant.tenant_id, trace_id.lower())


@router.get("/sessions", summary="Sessions, most recently active first")
async def list_sessions(
    grant: Reader,
    svc: Services,
    where: Filter,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Spans grouped by session id, with their time span, trace count, cost and tokens."""
    return {"data": await svc.traces.sessions(grant.tenant_id, where, limit, offset)}
