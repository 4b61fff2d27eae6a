"""Reading traces back: spans by filter, traces as span trees, sessions; keyset pagination.

Every query is bound to one tenant. Pages are ordered newest first by (start time, trace id,
span id), and a cursor is the position of the last row of the previous page, so a page never
repeats or skips a row while new spans arrive.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError, NotFoundError
from agentdeck.tracing.tables import spans

MAX_PAGE = 500
_C = spans.c


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """What to select; every field left None selects everything."""

    since_ns: int | None = None
    until_ns: int | None = None
    project_id: str | None = None
    trace_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None  # request or response model
    operation: str | None = None
    provider: str | None = None
    status: str | None = None
    source: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    deployment: str | None = None
    tool: str | None = None
    tag: str | None = None
    text: str | None = None  # in the name or captured content
    min_cost_micros: int | None = None
    max_cost_micros: int | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None

    def where(self, tenant_id: str) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions of this filter within `tenant_id`."""
        found: list[sa.ColumnElement[bool]] = [_C.tenant_id == tenant_id]
        equal = {
            "project_id": _C.project_id,
            "trace_id": _C.trace_id,
            "session_id": _C.session_id,
            "user_id": _C.user_id,
            "operation": _C.operation,
            "provider": _C.provider,
            "status": _C.status,
            "source": _C.source,
            "prompt_name": _C.prompt_name,
            "prompt_version": _C.prompt_version,
            "deployment": _C.deployment,
            "tool": _C.tool_name,
        }
        for name, column in equal.items():
            value = getattr(self, name)
            if value is not None:
                found.append(column == value)
        if self.model is not None:
            found.append(sa.or_(_C.request_model == self.model, _C.response_model == self.model))
        if self.since_ns is not None:
            found.append(_C.start_ns >= self.since_ns)
        if self.until_ns is not None:
            found.append(_C.start_ns < self.until_ns)
        if self.min_cost_micros is not None:
            found.append(_C.cost_micros >= self.min_cost_micros)
        if self.max_cost_micros is not None:
            found.append(_C.cost_micros <= self.max_cost_micros)
        if self.min_duration_ms is not None:
            found.append(_C.duration_us >= int(self.min_duration_ms * 1000))
        if self.max_duration_ms is not None:
            found.append(_C.duration_us <= int(self.max_duration_ms * 1000))
        if self.tag is not None:
            found.append(_C.tags.contains(f",{self.tag},", autoescape=True))
        if self.text is not None:
            found.append(
                sa.or_(
                    _C.name.icontains(self.text, autoescape=True),
                    _C.input_text.icontains(self.text, autoescape=True),
                    _C.output_text.icontains(self.text, autoescape=True),
                )
            )
        return found


def encode_cursor(row: dict[str, Any]) -> str:
    """The cursor after `row`."""
    raw = f"{row['start_ns']}:{row['trace_id']}:{row['span_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str, str]:
    """(start_ns, trace_id, span_id) of a cursor; 400 naming it when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        start, trace_id, span_id = base64.urlsafe_b64decode(padded).decode().split(":")
        start_ns = int(start)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor") from exc
    if not 0 <= start_ns < 2**63:  # beyond what the column holds: not a cursor we gave
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor")
    return start_ns, trace_id, span_id


def span_json(row: Any) -> dict[str, Any]:
    """A stored span as the API shows it."""
    found = dict(row._mapping)
    found["attributes"] = orjson.loads(found["attributes"])
    found["events"] = orjson.loads(found["events"])
    found["start_time"] = iso_time(found["start_ns"])
    found["end_time"] = iso_time(found["end_ns"])
    found["duration_ms"] = found.pop("duration_us") / 1000
    return found


def _total(column: sa.ColumnElement[Any], name: str) -> sa.Label[int]:
    """SUM as an integer on both engines (PostgreSQL sums BIGINT to NUMERIC), 0 when empty."""
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger).label(name)


def iso_time(ns: int) -> str:
    """An ns timestamp as ISO 8601 UTC with a trailing Z."""
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


class TraceQueries:
    """Spans, traces and sessions of one store."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def spans(
        self,
        tenant_id: str,
        where: SpanFilter,
        limit: int = 100,
        cursor: str | None = None,
        roots_only: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of spans, newest first, and the cursor of the next page (None at the end)."""
        conditions = where.where(tenant_id)
        if roots_only:
            # A root has no parent, or a parent never received (a client's own span).
            parent = spans.alias("parent")
            stored = sa.exists().where(
                parent.c.tenant_id == _C.tenant_id,
                parent.c.trace_id == _C.trace_id,
                parent.c.span_id == _C.parent_span_id,
            )
            conditions.append(sa.or_(_C.parent_span_id.is_(None), ~stored))
        if cursor is not None:
            conditions.append(
                sa.tuple_(_C.start_ns, _C.trace_id, _C.span_id) < decode_cursor(cursor)
            )
        query = (
            sa.select(spans)
            .where(*conditions)
            .order_by(_C.start_ns.desc(), _C.trace_id.desc(), _C.span_id.desc())
            .limit(min(limit, MAX_PAGE) + 1)
        )
        async with self._engine.connect() as conn:
            rows = [span_json(row) for row in await conn.execute(query)]
        page = rows[: min(limit, MAX_PAGE)]
        more = len(rows) > len(page)
        return page, encode_cursor(page[-1]) if more and page else None

    async def traces(
        self, tenant_id: str, where: SpanFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of traces (their root spans), each with the totals of all its spans."""
        roots, after = await self.spans(tenant_id, where, limit, cursor, roots_only=True)
        if not roots:
            return [], after
        ids = [root["trace_id"] for root in roots]
        query = (
            sa.select(
                _C.trace_id,
                sa.func.count().label("span_count"),
                _total(_C.cost_micros, "cost_micros"),
                _total(_C.input_tokens, "input_tokens"),
                _total(_C.output_tokens, "output_tokens"),
                _total(sa.case((_C.status == "error", 1), else_=0), "errors"),
            )
            .where(_C.tenant_id == tenant_id, _C.trace_id.in_(ids))
            .group_by(_C.trace_id)
        )
        async with self._engine.connect() as conn:
            totals = {row.trace_id: dict(row._mapping) for row in await conn.execute(query)}
        traces = []
        for root in roots:
            summary = totals.get(root["trace_id"], {})
            summary.pop("trace_id", None)
            traces.append({"trace_id": root["trace_id"], "root": root, **summary})
        return traces, after

    async def trace(self, tenant_id: str, trace_id: str) -> dict[str, Any]:
        """Every span of a trace as a tree (children in start order); 404 when none."""
        query = (
            sa.select(spans)
            .where(_C.tenant_id == tenant_id, _C.trace_id == trace_id)
            .order_by(_C.start_ns, _C.span_id)
        )
        async with self._engine.connect() as conn:
            found = [span_json(row) for row in await conn.execute(query)]
        if not found:
            raise NotFoundError(f"trace {trace_id!r} not found")
        by_id = {span["span_id"]: {**span, "children": []} for span in found}
        roots: list[dict[str, Any]] = []
        for span in by_id.values():
            parent = by_id.get(span["parent_span_id"] or "")
            (parent["children"] if parent is not None else roots).append(span)
        return {
            "trace_id": trace_id,
            "span_count": len(found),
            "cost_micros": sum(span["cost_micros"] or 0 for span in found),
            "spans": roots,  # a span whose parent was never received is shown as a root
        }

    async def sessions(
        self, tenant_id: str, where: SpanFilter, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Sessions (spans sharing a session id), most recently active first, with totals."""
        last = sa.func.max(_C.start_ns).label("last_ns")
        query = (
            sa.select(
                _C.session_id,
                sa.func.min(_C.start_ns).label("first_ns"),
                last,
                sa.func.count(sa.distinct(_C.trace_id)).label("trace_count"),
                sa.func.count().label("span_count"),
                _total(_C.cost_micros, "cost_micros"),
                _total(_C.input_tokens, "input_tokens"),
                _total(_C.output_tokens, "output_tokens"),
            )
            .where(*where.where(tenant_id), _C.session_id.is_not(None))
            .group_by(_C.session_id)
            .order_by(last.desc(), _C.session_id)
            .limit(min(limit, MAX_PAGE))
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(query)]
        for row in rows:
            row["first_time"] = iso_time(row["first_ns"])
            row["last_time"] = iso_time(row["last_ns"])
        return rows
