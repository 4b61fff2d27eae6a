"""User feedback on traces: a score and/or thumbs up or down, with an optional comment, given
to a trace (or one span of it) of the caller's own tenant. Built by migration 0005.

Feedback may arrive before its trace: spans reach the store through a batch writer (and OTLP
exporters batch too), so a trace id that has no span yet is accepted. Every row carries its
tenant, and feedback meets spans only on (tenant, trace id): feedback of one tenant never
attaches to a trace of another, whatever trace id it names.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db.metadata import metadata
from agentdeck.errors import InvalidRequestError

MAX_PAGE = 500
THUMBS = ("up", "down")

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("project_id", sa.String(40), nullable=False),  # the caller's project
    sa.Column("principal_id", sa.String(40), nullable=False),  # who recorded it
    sa.Column("trace_id", sa.String(32), nullable=False),
    sa.Column("span_id", sa.String(16)),  # None: the trace as a whole (its root span)
    sa.Column("name", sa.String(64), nullable=False),  # a label such as "helpfulness"
    sa.Column("score", sa.Double),
    sa.Column("thumbs", sa.String(4)),  # up | down
    sa.Column("comment", sa.Text),
    sa.Column("user_id", sa.String(256)),  # the end user; hashed unless the project keeps raw ids
    sa.Column("metadata", sa.Text, nullable=False),  # JSON object
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Index("ix_feedback_tenant_created", "tenant_id", "created_ns"),
    sa.Index("ix_feedback_tenant_trace", "tenant_id", "trace_id"),
)
"""Feedback of every tenant, one row per piece of feedback."""

_F = feedback.c


def score_value() -> sa.ColumnElement[float]:
    """The score a piece of feedback counts as: its score, else 1 for thumbs up and 0 for
    thumbs down."""
    thumbs = sa.case((_F.thumbs == "up", sa.literal(1.0)), (_F.thumbs == "down", sa.literal(0.0)))
    return sa.func.coalesce(_F.score, thumbs)


@dataclass(frozen=True, slots=True)
class NewFeedback:
    """Feedback as given, with the caller who gives it (the user id already as stored)."""

    tenant_id: str
    project_id: str
    principal_id: str
    trace_id: str
    span_id: str | None = None
    name: str = "user"
    score: float | None = None
    thumbs: str | None = None
    comment: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedbackFilter:
    """Which feedback to list; every field left None selects everything."""

    project_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    name: str | None = None
    since_ns: int | None = None  # created at or after
    until_ns: int | None = None  # created before

    def where(self, tenant_id: str) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions of this filter within `tenant_id`."""
        found: list[sa.ColumnElement[bool]] = [_F.tenant_id == tenant_id]
        for name in ("project_id", "trace_id", "span_id", "name"):
            value = getattr(self, name)
            if value is not None:
                found.append(_F[name] == value)
        if self.since_ns is not None:
            found.append(_F.created_ns >= self.since_ns)
        if self.until_ns is not None:
            found.append(_F.created_ns < self.until_ns)
        return found


def new_feedback_id() -> str:
    """A new feedback id."""
    return f"fb_{secrets.token_hex(12)}"


def encode_cursor(row: dict[str, Any]) -> str:
    """The cursor after `row`."""
    raw = f"{row['created_ns']}:{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """(created_ns, id) of a cursor; 400 naming it when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, feedback_id = base64.urlsafe_b64decode(padded).decode().split(":")
        created_ns = int(created)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor") from exc
    if not 0 <= created_ns < 2**63:  # beyond what the column holds: not a cursor we gave
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor")
    return created_ns, feedback_id


def feedback_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored piece of feedback (a row by column name) as the API shows it."""
    found = dict(row)
    found["metadata"] = orjson.loads(found["metadata"])
    found["created_time"] = (
        datetime.fromtimestamp(found["created_ns"] / 1e9, UTC).isoformat().replace("+00:00", "Z")
    )
    return found


class FeedbackStore:
    """Recording and listing feedback, always within one tenant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, given: NewFeedback, now_ns: int | None = None) -> dict[str, Any]:
        """Store `given`; the stored row as the API shows it."""
        row = {
            "id": new_feedback_id(),
            "tenant_id": given.tenant_id,
            "project_id": given.project_id,
            "principal_id": given.principal_id,
            "trace_id": given.trace_id,
            "span_id": given.span_id,
            "name": given.name,
            "score": given.score,
            "thumbs": given.thumbs,
            "comment": given.comment,
            "user_id": given.user_id,
            "metadata": orjson.dumps(given.metadata).decode(),
            "created_ns": time.time_ns() if now_ns is None else now_ns,
        }
        async with self._engine.begin() as conn:
            await conn.execute(feedback.insert().values(row))
        return feedback_json(row)

    async def list(
        self, tenant_id: str, where: FeedbackFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of feedback, newest first, and the cursor of the next page (None at the end)."""
        conditions = where.where(tenant_id)
        if cursor is not None:
            conditions.append(sa.tuple_(_F.created_ns, _F.id) < decode_cursor(cursor))
        page_size = min(limit, MAX_PAGE)
        query = (
            sa.select(feedback)
            .where(*conditions)
            .order_by(_F.created_ns.desc(), _F.id.desc())
            .limit(page_size + 1)
        )
        async with self._engine.connect() as conn:
            rows = [feedback_json(row._mapping) for row in await conn.execute(query)]
        page = rows[:page_size]
        return page, encode_cursor(page[-1]) if len(rows) > page_size and page else None
