"""`/api/v1/metrics` (span metrics per time bucket and group) and `/api/v1/feedback` (scores
and thumbs given to traces): the caller's tenant only."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import Field, field_validator

from agentdeck.api.deps import Body, Services, require
from agentdeck.api.trace_routes import Cursor, Filter, Limit, Name, Reader, ns_of
from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.call_spans import hashed_user
from agentdeck.identity.grants import Grant
from agentdeck.tracing.aggregates import MAX_BUCKET_S, MetricsQueries, metrics_window
from agentdeck.tracing.feedback import FeedbackFilter, FeedbackStore, NewFeedback
from agentdeck.tracing.queries import iso_time

router = APIRouter(prefix="/v1")
Writer = Annotated[Grant, Depends(require("traces:write"))]
GroupBy = Literal[
    "model", "deployment", "user", "project", "prompt_version", "tool", "provider", "operation",
    "none",
]  # fmt: skip
SCORE_MAX = 1e9  # sums and means of scores stay far from a double's limits
METADATA_MAX_BYTES = 16_384
TRACE_ID = "^[0-9a-fA-F]{32}$"
SPAN_ID = "^[0-9a-fA-F]{16}$"


@router.get("/metrics", summary="Span metrics per time bucket and group")
async def get_metrics(
    grant: Reader,
    svc: Services,
    where: Filter,
    bucket: Annotated[
        int | None, Query(ge=1, le=MAX_BUCKET_S, description="seconds; default: <= 500 buckets")
    ] = None,
    group_by: Annotated[GroupBy | None, Query(description="one dimension, or none")] = None,
    feedback_name: Annotated[
        str | None, Query(max_length=64, description="count only feedback of this name")
    ] = None,
) -> dict[str, Any]:
    """Requests, errors, latency percentiles, tokens, cost, cache hits, tool successes and
    feedback of the tenant's spans matching every filter, per bucket of start time (default:
    the last 24 hours) and per group."""
    window = metrics_window(where.since_ns, where.until_ns, bucket, time.time_ns())
    group = None if group_by in (None, "none") else group_by
    rows = await MetricsQueries(svc.engine).metrics(
        grant.tenant_id, where, window, group, feedback_name
    )
    return {
        "since": iso_time(window.since_ns),
        "until": iso_time(window.until_ns),
        "bucket": window.bucket_s,
        "group_by": group,
        "data": rows,
    }


class FeedbackBody(Body):
    trace_id: str = Field(pattern=TRACE_ID, description="32 hex digits")
    span_id: str | None = Field(default=None, pattern=SPAN_ID, description="16 hex digits")
    score: float | None = Field(
        default=None, strict=True, allow_inf_nan=False, ge=-SCORE_MAX, le=SCORE_MAX
    )
    thumbs: Literal["up", "down"] | None = None
    comment: str | None = Field(default=None, max_length=4000)
    user: str | None = Field(default=None, min_length=1, max_length=256, description="end user")
    name: str = Field(default="user", min_length=1, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("trace_id", "span_id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip("0"):
            raise ValueError("an id of zeros names nothing (W3C trace context)")
        return None if value is None else value.lower()


@router.post("/feedback", status_code=201, summary="Give feedback on a trace or a span")
async def add_feedback(grant: Writer, svc: Services, body: FeedbackBody) -> dict[str, Any]:
    """Record a score and/or thumbs for a trace (or one of its spans) of the caller's tenant;
    the trace need not be stored yet."""
    if body.score is None and body.thumbs is None:
        raise InvalidRequestError("give a score, thumbs (up or down), or both", param="score")
    try:
        size = len(orjson.dumps(body.metadata))
    except orjson.JSONEncodeError as exc:  # an integer beyond 64 bits, nesting too deep
        raise InvalidRequestError(f"metadata: {exc}", param="metadata") from exc
    if size > METADATA_MAX_BYTES:
        raise InvalidRequestError(
            f"metadata is {size} bytes as JSON; at most {METADATA_MAX_BYTES}", param="metadata"
        )
    user = body.user
    if user is not None and grant.project_id not in svc.raw_user_id_projects:
        user = hashed_user(grant.tenant_id, user)
    given = NewFeedback(
        tenant_id=grant.tenant_id,
        project_id=grant.project_id,
        principal_id=grant.principal_id,
        trace_id=body.trace_id,
        span_id=body.span_id,
        name=body.name,
        score=body.score,
        thumbs=body.thumbs,
        comment=body.comment,
        user_id=user,
        metadata=body.metadata,
    )
    return await FeedbackStore(svc.engine).add(given)


@router.get("/feedback", summary="Feedback, newest first, with a cursor")
async def list_feedback(
    grant: Reader,
    svc: Services,
    trace_id: Annotated[str | None, Query(pattern="^[0-9a-f]{32}$")] = None,
    span_id: Annotated[str | None, Query(pattern="^[0-9a-f]{16}$")] = None,
    name: Annotated[str | None, Query(max_length=64)] = None,
    project_id: Name = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """A page of the tenant's feedback matching every filter given (times: when recorded)."""
    where = FeedbackFilter(
        project_id=project_id,
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        since_ns=ns_of(since, "since"),
        until_ns=ns_of(until, "until"),
    )
    found, after = await FeedbackStore(svc.engine).list(grant.tenant_id, where, limit, cursor)
    return {"data": found, "next": after}
