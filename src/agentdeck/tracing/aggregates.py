"""Metrics over spans: per time bucket and group, requests, errors, latency percentiles,
tokens, cost, cache hits, tool successes and feedback, in two queries bound to one tenant and
a start-time range (the index `ix_spans_tenant_start`).

Buckets are aligned to the Unix epoch (a 3600 s bucket starts on the hour, UTC), so the first
and the last bucket may cover only part of their span of time; buckets without spans are left
out. Percentiles are nearest-rank: the p-th percentile of n durations is the ceil(p * n / 100)-th
smallest (1-based), always one of the stored values. Both engines compute it the same way, with
window functions and integer arithmetic only.

Feedback counts in the bucket and group of the span it names, or, when it names no span, of its
trace's root span (a span without a parent, or whose parent was never received; the earliest
such, ties broken by span id); feedback whose span has not arrived is not counted yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError
from agentdeck.tracing.feedback import feedback, score_value
from agentdeck.tracing.queries import SpanFilter, iso_time
from agentdeck.tracing.tables import spans

_C = spans.c
_F = feedback.c
SECOND_NS = 1_000_000_000
DAY_S = 86_400
DEFAULT_WINDOW_NS = DAY_S * SECOND_NS
DEFAULT_MAX_BUCKETS = 500  # a default bucket is the smallest nice size within this many
MAX_BUCKETS = 10_000  # more is refused
MAX_BUCKET_S = 3660 * DAY_S  # ten years
NICE_BUCKETS_S = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600,
                  43_200, DAY_S)  # fmt: skip
PERCENTILES = (50, 95, 99)
TOOL_OPERATION = "execute_tool"

GROUPS: dict[str, tuple[sa.ColumnElement[Any], ...]] = {
    "model": (sa.func.coalesce(_C.response_model, _C.request_model),),
    "deployment": (_C.deployment,),
    "user": (_C.user_id,),
    "project": (_C.project_id,),
    "prompt_version": (_C.prompt_name, _C.prompt_version),
    "tool": (_C.tool_name,),
    "provider": (_C.provider,),
    "operation": (_C.operation,),
}
"""What `group_by` may name, as the span columns (or expression) it groups by."""


@dataclass(frozen=True, slots=True)
class MetricsWindow:
    """The range of span start times [since, until) and the bucket size; buckets start at
    `origin_ns` plus whole buckets (the epoch by default; alert rules align them to since)."""

    since_ns: int
    until_ns: int
    bucket_s: int
    origin_ns: int = 0

    @property
    def bucket_ns(self) -> int:
        """The bucket size in nanoseconds."""
        return self.bucket_s * SECOND_NS

    @property
    def buckets(self) -> int:
        """How many buckets (epoch-aligned) the range touches."""
        return bucket_count(self.since_ns, self.until_ns, self.bucket_ns)


def bucket_count(since_ns: int, until_ns: int, bucket_ns: int) -> int:
    """The number of epoch-aligned buckets of `bucket_ns` that [since, until) touches."""
    return (until_ns - 1) // bucket_ns - since_ns // bucket_ns + 1


def default_bucket_s(since_ns: int, until_ns: int) -> int:
    """The smallest nice bucket (then whole days) that makes at most 500 buckets."""
    for size in NICE_BUCKETS_S:
        if bucket_count(since_ns, until_ns, size * SECOND_NS) <= DEFAULT_MAX_BUCKETS:
            return size
    days = -(-(until_ns - since_ns) // (DEFAULT_MAX_BUCKETS * DEFAULT_WINDOW_NS))
    while bucket_count(since_ns, until_ns, days * DEFAULT_WINDOW_NS) > DEFAULT_MAX_BUCKETS:
        days += 1
    return days * DAY_S


def metrics_window(
    since_ns: int | None, until_ns: int | None, bucket_s: int | None, now_ns: int
) -> MetricsWindow:
    """The window a metrics request asks for: until defaults to now, since to 24 hours
    before until, the bucket to `default_bucket_s`. 400 naming the parameter when the range
    is empty or the bucket makes more than 10,000 buckets."""
    until = now_ns if until_ns is None else until_ns
    since = max(0, until - DEFAULT_WINDOW_NS) if since_ns is None else since_ns
    if since >= until:
        param = "since" if until_ns is None else "until"
        raise InvalidRequestError("until must be later than since", param=param)
    if bucket_s is None:
        bucket_s = default_bucket_s(since, until)
    if not 1 <= bucket_s <= MAX_BUCKET_S:
        raise InvalidRequestError(
            f"bucket must be between 1 and {MAX_BUCKET_S} seconds", param="bucket"
        )
    window = MetricsWindow(since, until, bucket_s)
    if window.buckets > MAX_BUCKETS:
        raise InvalidRequestError(
            f"bucket {bucket_s} s makes {window.buckets} buckets between since and until; "
            f"at most {MAX_BUCKETS} are allowed: choose a larger bucket or a shorter range",
            param="bucket",
        )
    return window


def nearest_rank(values: Sequence[int], percentile: int) -> int:
    """The nearest-rank percentile of `values` (the reference the SQL agrees with)."""
    ordered = sorted(values)
    return ordered[-(-percentile * len(ordered) // 100) - 1]


def _sum(column: sa.ColumnElement[Any], name: str) -> sa.Label[int]:
    """SUM as an integer on both engines (PostgreSQL sums BIGINT to NUMERIC), 0 when empty."""
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger).label(name)


_TWO_TO_32 = sa.literal_column(str(2**32), sa.BigInteger)


def _wide_sum(column: sa.ColumnElement[Any], name: str) -> tuple[sa.Label[Any], sa.Label[Any]]:
    """SUM of a BIGINT column that may pass 2**63 (OTLP spans may say any token count or
    cost): the high and the low 32 bits summed apart, which cannot overflow, and joined again
    by `_joined`. SQLite refuses an overflowing SUM, and the total must be exact."""
    # Integer division and remainder truncate alike on both engines: x = high * 2**32 + low.
    high = sa.func.coalesce(sa.func.sum(column.op("/")(_TWO_TO_32)), 0)
    low = sa.func.coalesce(sa.func.sum(column % _TWO_TO_32), 0)
    return high.label(f"{name}_high"), low.label(f"{name}_low")


def _joined(row: Any, name: str) -> int:
    return int(row[f"{name}_high"]) * 2**32 + int(row[f"{name}_low"])


def _count_if(condition: sa.ColumnElement[bool], name: str) -> sa.Label[int]:
    return _sum(sa.case((condition, 1), else_=0), name)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _group_value(group_by: str | None, values: Sequence[Any]) -> str | None:
    if group_by != "prompt_version":
        return None if not values or values[0] is None else str(values[0])
    name, version = values
    if name is None and version is None:
        return None
    return f"{name or ''}@{version}" if version is not None else str(name)


class MetricsQueries:
    """Metrics of one store, always within one tenant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def span_query(
        self, tenant_id: str, where: SpanFilter, window: MetricsWindow, group_by: str | None
    ) -> sa.Select[Any]:
        """Per bucket and group: counts, sums and nearest-rank latency percentiles."""
        bucket, groups = self._keys(window, group_by)
        partition = [bucket, *groups]
        ranked = (
            sa.select(
                bucket.label("bucket_ns"),
                *(column.label(f"g{n}") for n, column in enumerate(groups)),
                _C.status,
                _C.operation,
                _C.cache,
                _C.duration_us,
                _C.input_tokens,
                _C.output_tokens,
                _C.cost_micros,
                sa.func.row_number()
                .over(partition_by=partition, order_by=_C.duration_us)
                .label("rank"),
                # The same window as the rank's, whole frame: one sort serves both.
                sa.func.count()
                .over(partition_by=partition, order_by=_C.duration_us, rows=(None, None))
                .label("n"),
            )
            .where(*self._conditions(tenant_id, where, window))
            .subquery("ranked")
        )
        r = ranked.c
        keys = [r.bucket_ns, *(r[f"g{n}"] for n in range(len(groups)))]
        # rank = ceil(p * n / 100), said without division: 100 (rank - 1) < p n <= 100 rank.
        picks = [
            sa.func.max(
                sa.case(
                    (sa.and_(r.rank * 100 >= r.n * p, (r.rank - 1) * 100 < r.n * p), r.duration_us)
                )
            ).label(f"p{p}_us")
            for p in PERCENTILES
        ]
        is_tool = r.operation == TOOL_OPERATION
        return sa.select(
            *keys,
            sa.func.count().label("requests"),
            _count_if(r.status == "error", "errors"),
            *picks,
            *_wide_sum(r.input_tokens, "input_tokens"),
            *_wide_sum(r.output_tokens, "output_tokens"),
            *_wide_sum(r.cost_micros, "cost_micros"),
            _count_if(r.cache == "hit", "cache_hits"),
            _count_if(r.cache == "miss", "cache_misses"),
            _count_if(is_tool, "tool_calls"),
            _count_if(sa.and_(is_tool, r.status == "error"), "tool_errors"),
        ).group_by(*keys)

    def feedback_query(
        self,
        tenant_id: str,
        where: SpanFilter,
        window: MetricsWindow,
        group_by: str | None,
        feedback_name: str | None = None,
    ) -> sa.Select[Any]:
        """Per bucket and group of the span each piece of feedback counts for: count, score
        sum, thumbs up and down."""
        bucket, groups = self._keys(window, group_by)
        root, parent = spans.alias("root"), spans.alias("parent")
        parent_stored = sa.exists().where(
            parent.c.tenant_id == root.c.tenant_id,
            parent.c.trace_id == root.c.trace_id,
            parent.c.span_id == root.c.parent_span_id,
        )
        root_span = (
            sa.select(root.c.span_id)
            .where(
                root.c.tenant_id == _F.tenant_id,
                root.c.trace_id == _F.trace_id,
                sa.or_(root.c.parent_span_id.is_(None), ~parent_stored),
            )
            # `+ 0`: ordering by the bare column lets SQLite walk ix_spans_tenant_start over
            # the whole tenant to skip a sort; this way it finds the trace by primary key.
            .order_by(root.c.start_ns + 0, root.c.span_id)
            .limit(1)
            .scalar_subquery()
        )
        joined = spans.join(
            feedback, sa.and_(_F.tenant_id == _C.tenant_id, _F.trace_id == _C.trace_id)
        )
        conditions = [
            *self._conditions(tenant_id, where, window),
            _F.tenant_id == tenant_id,
            # Two branches, not COALESCE(span_id, root): the join stays on (tenant, trace)
            # and the root is looked up only for feedback that names no span.
            sa.or_(
                sa.and_(_F.span_id.is_not(None), _C.span_id == _F.span_id),
                sa.and_(_F.span_id.is_(None), _C.span_id == root_span),
            ),
        ]
        if feedback_name is not None:
            conditions.append(_F.name == feedback_name)
        return (
            sa.select(
                bucket.label("bucket_ns"),
                *(column.label(f"g{n}") for n, column in enumerate(groups)),
                sa.func.count().label("feedback_count"),
                sa.func.sum(score_value()).label("score_sum"),
                _count_if(_F.thumbs == "up", "thumbs_up"),
                _count_if(_F.thumbs == "down", "thumbs_down"),
            )
            .select_from(joined)
            .where(*conditions)
            .group_by(bucket, *groups)
        )

    async def metrics(
        self,
        tenant_id: str,
        where: SpanFilter,
        window: MetricsWindow,
        group_by: str | None = None,
        feedback_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """One row per (bucket, group) that has spans, in bucket then group order."""
        spans_query = self.span_query(tenant_id, where, window, group_by)
        feedback_query = self.feedback_query(tenant_id, where, window, group_by, feedback_name)
        width = len(GROUPS[group_by]) if group_by else 0
        async with self._engine.connect() as conn:
            span_rows = (await conn.execute(spans_query)).all()
            feedback_rows = (await conn.execute(feedback_query)).all()
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in span_rows:
            found[tuple(row[: width + 1])] = _span_metrics(
                row._mapping, group_by, row[1 : width + 1]
            )
        for row in feedback_rows:
            metrics = found.get(tuple(row[: width + 1]))
            if metrics is None:  # its span arrived between the two queries: next time
                continue
            count = row.feedback_count
            metrics["feedback_count"] = count
            metrics["feedback_score_mean"] = _ratio(row.score_sum, count)
            metrics["thumbs_up"], metrics["thumbs_down"] = row.thumbs_up, row.thumbs_down
        return sorted(
            found.values(),
            key=lambda m: (m["start_ns"], m["group"] is not None, m["group"] or ""),
        )

    async def span_metrics(
        self, tenant_id: str, where: SpanFilter, window: MetricsWindow
    ) -> list[dict[str, Any]]:
        """One row per bucket that has spans, without grouping or feedback (alert rules)."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(self.span_query(tenant_id, where, window, None))).all()
        return [_span_metrics(row._mapping, None, ()) for row in rows]

    @staticmethod
    def _keys(
        window: MetricsWindow, group_by: str | None
    ) -> tuple[sa.ColumnElement[int], tuple[sa.ColumnElement[Any], ...]]:
        # The bucket size is our own integer, written into the SQL: PostgreSQL matches a
        # GROUP BY expression to the select list by its text, and two bound parameters of the
        # same value would not match.
        size = sa.literal_column(str(int(window.bucket_ns)), sa.BigInteger)
        groups = GROUPS[group_by] if group_by else ()
        if window.origin_ns:
            # Start times before the origin are outside the window (since >= origin), so the
            # remainder is never taken of a negative number (which the engines round apart).
            origin = sa.literal_column(str(int(window.origin_ns)), sa.BigInteger)
            return _C.start_ns - (_C.start_ns - origin) % size, groups
        return _C.start_ns - _C.start_ns % size, groups

    @staticmethod
    def _conditions(
        tenant_id: str, where: SpanFilter, window: MetricsWindow
    ) -> list[sa.ColumnElement[bool]]:
        # Always bounded by tenant and start time, whatever the filter says about them.
        bounded = dataclasses.replace(where, since_ns=window.since_ns, until_ns=window.until_ns)
        return bounded.where(tenant_id)


def _span_metrics(row: Any, group_by: str | None, group_values: Sequence[Any]) -> dict[str, Any]:
    requests, errors = row["requests"], row["errors"]
    hits, misses = row["cache_hits"], row["cache_misses"]
    tool_calls, tool_errors = row["tool_calls"], row["tool_errors"]
    return {
        "start": iso_time(row["bucket_ns"]),
        "start_ns": row["bucket_ns"],
        "group": _group_value(group_by, group_values),
        "requests": requests,
        "errors": errors,
        "error_rate": _ratio(errors, requests),
        **{f"latency_p{p}_ms": row[f"p{p}_us"] / 1000 for p in PERCENTILES},
        "input_tokens": _joined(row, "input_tokens"),
        "output_tokens": _joined(row, "output_tokens"),
        "cost_micros": _joined(row, "cost_micros"),
        "cache_hits": hits,
        "cache_misses": misses,
        "cache_hit_rate": _ratio(hits, hits + misses),
        "tool_calls": tool_calls,
        "tool_errors": tool_errors,
        "tool_success_rate": _ratio(tool_calls - tool_errors, tool_calls),
        "feedback_count": 0,
        "feedback_score_mean": None,
        "thumbs_up": 0,
        "thumbs_down": 0,
    }
