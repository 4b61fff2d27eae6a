"""The alert history: what a rule's evaluation changes (firing, a new severity, resolved),
written with the rule's new state and one pending delivery per channel in one transaction, and
read back newest first with keyset cursors.

A state change is a compare-and-set on the state the evaluation started from: if the rule was
changed or deleted meanwhile (or another replica got there first), nothing is recorded.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.errors import InvalidRequestError, NotFoundError
from agentdeck.tracing.alerts.models import Verdict
from agentdeck.tracing.alerts.tables import alert_deliveries, alert_events, alert_rules
from agentdeck.tracing.queries import iso_time

_R = alert_rules.c
_E = alert_events.c
_D = alert_deliveries.c
MAX_PAGE = 500
MAX_TEXT = 4000


def _event_id() -> str:
    # Time-ordered, so ids sort like the history.
    return f"ale_{time.time_ns():x}{secrets.token_hex(4)}"


async def add_event(
    conn: AsyncConnection, rule: Any, state: str, verdict: Verdict, now_ns: int
) -> str:
    """Record an event of `rule` and queue its delivery to each of the rule's channels."""
    event_id = _event_id()
    await conn.execute(
        alert_events.insert().values(
            id=event_id,
            tenant_id=rule.tenant_id,
            rule_id=rule.id,
            rule_kind=rule.kind,
            rule_name=rule.name,
            state=state,
            severity=verdict.severity,
            value=verdict.value,
            threshold=verdict.threshold,
            message=verdict.message[:MAX_TEXT],
            details=orjson.dumps(verdict.details).decode(),
            at_ns=now_ns,
        )
    )
    channels = orjson.loads(rule.channel_ids)
    if channels:
        await conn.execute(
            alert_deliveries.insert(),
            [
                {
                    "id": f"{event_id}_{n}",
                    "tenant_id": rule.tenant_id,
                    "event_id": event_id,
                    "channel_id": channel,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_ns": now_ns,
                }
                for n, channel in enumerate(channels)
            ],
        )
    return event_id


def transition(rule: Any, verdict: Verdict) -> str | None:
    """The event an evaluation makes: `firing` (started, or its severity changed),
    `resolved` (not firing any more, or no data), or None (no change)."""
    if verdict.firing:
        if rule.state != "firing" or rule.severity != verdict.severity:
            return "firing"
        return None
    # Not firing, or no data (the traffic the rule watched stopped): a firing rule resolves.
    return "resolved" if rule.state == "firing" else None


async def record_evaluation(
    engine: AsyncEngine, rule: Any, verdict: Verdict, now_ns: int
) -> str | None:
    """Store an evaluation's outcome on `rule` (as read when it was claimed) and its event,
    if any; the event id, or None."""
    event = transition(rule, verdict)
    values: dict[str, Any] = {
        "last_value": verdict.value,
        "last_evaluated_ns": now_ns,
        "last_error": None,
    }
    if event == "firing":
        values |= {"state": "firing", "severity": verdict.severity}
    elif event == "resolved":
        values |= {"state": "ok", "severity": None}
    async with engine.begin() as conn:
        done = await conn.execute(
            alert_rules.update()
            .where(
                _R.id == rule.id,
                _R.updated_ns == rule.updated_ns,  # not changed since it was read
                _R.state == rule.state,
                _R.severity.is_(None) if rule.severity is None else _R.severity == rule.severity,
            )
            .values(values)
        )
        if done.rowcount != 1 or event is None:
            return None
        return await add_event(conn, rule, event, verdict, now_ns)


async def record_failure(engine: AsyncEngine, rule_id: str, error: str, now_ns: int) -> None:
    """Note on the rule that its evaluation failed (its state is kept)."""
    async with engine.begin() as conn:
        await conn.execute(
            alert_rules.update()
            .where(_R.id == rule_id)
            .values(last_error=error[:MAX_TEXT], last_evaluated_ns=now_ns)
        )


async def resolve_on_stop(conn: AsyncConnection, rule: Any, why: str, now_ns: int) -> None:
    """A firing rule that is deleted or switched off resolves, so receivers are not left with
    an alert that never ends."""
    if rule.state != "firing":
        return
    verdict = Verdict(False, None, None, f"{rule.name}: resolved, the rule was {why}")
    await add_event(conn, rule, "resolved", verdict, now_ns)
    await conn.execute(
        alert_rules.update().where(_R.id == rule.id).values(state="ok", severity=None)
    )


def event_json(row: Any) -> dict[str, Any]:
    """A stored event as the API shows it."""
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "rule_kind": row.rule_kind,
        "rule_name": row.rule_name,
        "state": row.state,
        "severity": row.severity,
        "value": row.value,
        "threshold": row.threshold,
        "message": row.message,
        "details": orjson.loads(row.details),
        "at": iso_time(row.at_ns),
        "at_ns": row.at_ns,
    }


def _delivery_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel_id": row.channel_id,
        "status": row.status,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "next_attempt_at": iso_time(row.next_attempt_ns) if row.status == "pending" else None,
        "delivered_at": iso_time(row.delivered_ns) if row.delivered_ns else None,
    }


def _cursor(at_ns: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at_ns}:{event_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, event_id = raw.split(":")
        at_ns = int(at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor") from exc
    if not 0 <= at_ns < 2**63:
        raise InvalidRequestError(f"cursor {cursor[:60]!r} is not valid", param="cursor")
    return at_ns, event_id


class AlertHistory:
    """Events and their deliveries, always within one tenant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def events(
        self,
        tenant_id: str,
        rule_id: str | None = None,
        state: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """A page of events, newest first, and the cursor of the next page (None at the end)."""
        where: list[sa.ColumnElement[bool]] = [_E.tenant_id == tenant_id]
        for column, value in ((_E.rule_id, rule_id), (_E.state, state)):
            if value is not None:
                where.append(column == value)
        if since_ns is not None:
            where.append(_E.at_ns >= since_ns)
        if until_ns is not None:
            where.append(_E.at_ns < until_ns)
        if cursor is not None:
            at_ns, event_id = _decode_cursor(cursor)
            where.append(sa.tuple_(_E.at_ns, _E.id) < sa.tuple_(at_ns, event_id))
        query = (
            sa.select(alert_events)
            .where(*where)
            .order_by(_E.at_ns.desc(), _E.id.desc())
            .limit(min(limit, MAX_PAGE) + 1)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        page = rows[: min(limit, MAX_PAGE)]
        following = _cursor(page[-1].at_ns, page[-1].id) if len(rows) > len(page) else None
        return {"data": [event_json(row) for row in page], "next": following}

    async def event(self, tenant_id: str, event_id: str) -> dict[str, Any]:
        """One event with its deliveries (404 when not the tenant's)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(alert_events).where(_E.tenant_id == tenant_id, _E.id == event_id)
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"no alert event {event_id!r}")
            deliveries = await conn.execute(
                sa.select(alert_deliveries)
                .where(_D.tenant_id == tenant_id, _D.event_id == event_id)
                .order_by(_D.id)
            )
            return {**event_json(row), "deliveries": [_delivery_json(d) for d in deliveries]}
