"""Approval requests for high-risk tool calls.

A request is bound to the tool, the SHA-256 of its canonical arguments, the run that asked
(`run_id`, "" for none) and the requesting principal; it is used once and expires. Decisions
(approve, deny) are compare-and-set on `pending`, audited in the same transaction, and never
made by the requester. Using an approval is compare-and-set on `approved` too, so two calls
racing with one approval run the tool once.

An approval shows the call's arguments, so it is shown only to those who decide it (holders of
`tools:approve` on its tool) and to its requester; to anyone else it does not exist (404, so
ids cannot be probed).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import ConflictError, NotFoundError, PermissionDeniedError
from agentdeck.identity.audit_log import AuditEvent, append
from agentdeck.identity.grants import Grant
from agentdeck.tools.models import ToolCaller, ToolSpec
from agentdeck.tools.tables import tool_approvals
from agentdeck.tracing.queries import iso_time

_A = tool_approvals.c
Verdict = Literal["used", "denied", "pending", "invalid"]
STATUSES = ("pending", "approved", "denied", "used", "expired")
APPROVE = "tools:approve"


def may_see(viewer: Grant, tool: str, requested_by: str) -> bool:
    """Whether `viewer` may see an approval of `tool` requested by principal `requested_by`."""
    return requested_by == viewer.principal_id or viewer.access.allows(APPROVE, "tools", tool)


@dataclass(frozen=True, slots=True)
class Binding:
    """What an approval is bound to."""

    tenant_id: str
    project_id: str
    tool: str
    args_hash: str
    run_id: str
    principal_id: str

    @classmethod
    def of(cls, spec: ToolSpec, caller: ToolCaller, args_hash: str) -> Binding:
        """The binding of `caller`'s call of `spec` with arguments hashing to `args_hash`."""
        grant = caller.grant
        return cls(
            grant.tenant_id, grant.project_id, spec.name, args_hash, caller.run_id or "",
            grant.principal_id,
        )  # fmt: skip


def approval_json(row: Any, now: int) -> dict[str, Any]:
    """An approval as the API shows it (`expired` once past its time while undecided)."""
    status = row.status
    if status in ("pending", "approved") and row.expires_ns <= now:
        status = "expired"
    return {
        "id": row.id,
        "tool": row.tool,
        "project": row.project_id,
        "arguments": orjson.loads(row.arguments),
        "args_hash": row.args_hash,
        "run_id": row.run_id or None,
        "requester": row.requester,
        "status": status,
        "created_at": iso_time(row.created_ns),
        "expires_at": iso_time(row.expires_ns),
        "decided_by": row.decided_by,
        "decided_at": iso_time(row.decided_ns) if row.decided_ns else None,
        "reason": row.reason,
    }


class Approvals:
    """Approval requests of one store."""

    def __init__(
        self, engine: AsyncEngine, ttl_s: float, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self._ttl_ns = int(ttl_s * 1e9)
        self._clock = clock

    async def request(self, binding: Binding, arguments: Any, requester: str) -> str:
        """A new pending approval for the call; its id."""
        now = self._clock()
        approval_id = f"apr_{now:016x}{secrets.token_hex(6)}"  # ids sort by creation time
        async with self.engine.begin() as conn:
            await conn.execute(
                tool_approvals.insert().values(
                    id=approval_id, tenant_id=binding.tenant_id, project_id=binding.project_id,
                    tool=binding.tool, args_hash=binding.args_hash,
                    arguments=orjson.dumps(arguments).decode(), run_id=binding.run_id,
                    requested_by=binding.principal_id, requester=requester, status="pending",
                    created_ns=now, expires_ns=now + self._ttl_ns,
                )
            )  # fmt: skip
        return approval_id

    async def use(self, approval_id: str, binding: Binding) -> Verdict:
        """Take the approval for this call: `used` when it was approved, unexpired, unused and
        bound to exactly this call (and is now used); else what it is."""
        now = self._clock()
        bound = sa.and_(
            _A.id == approval_id, _A.tenant_id == binding.tenant_id, _A.tool == binding.tool,
            _A.args_hash == binding.args_hash, _A.run_id == binding.run_id,
            _A.requested_by == binding.principal_id,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            done = await conn.execute(
                tool_approvals.update()
                .where(bound, _A.status == "approved", _A.expires_ns > now)
                .values(status="used")
            )
            if done.rowcount == 1:
                return "used"
            row = (
                await conn.execute(sa.select(_A.status, _A.expires_ns).where(bound))
            ).one_or_none()
        if row is None or row.expires_ns <= now:
            return "invalid"
        if row.status == "denied":
            return "denied"
        return "pending" if row.status == "pending" else "invalid"

    async def get(
        self, tenant_id: str, approval_id: str, viewer: Grant | None = None
    ) -> dict[str, Any]:
        """The tenant's approval `approval_id`; 404 when there is none, or when `viewer` (if
        given) may not see it."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tool_approvals).where(_A.tenant_id == tenant_id, _A.id == approval_id)
                )
            ).one_or_none()
        if row is None or (viewer is not None and not may_see(viewer, row.tool, row.requested_by)):
            raise NotFoundError(f"no approval {approval_id!r}", param="approval_id")
        return approval_json(row, self._clock())

    async def _visible(self, viewer: Grant) -> list[Any]:
        """The conditions that keep a listing to what `viewer` may see (none for an approver
        of every tool)."""
        access = viewer.access
        if access.unrestricted(APPROVE, "tools"):
            return []
        own = _A.requested_by == viewer.principal_id
        if not access.allows(APPROVE):
            return [own]
        # Approver of some tools only (role patterns): the tools it may approve, by name, as
        # SQL cannot match the patterns; one name per tool ever asked for, so few.
        async with self.engine.connect() as conn:
            asked = await conn.scalars(
                sa.select(_A.tool).where(_A.tenant_id == viewer.tenant_id).distinct()
            )
            tools = [tool for tool in asked if access.allows(APPROVE, "tools", tool)]
        return [sa.or_(own, _A.tool.in_(tools))] if tools else [own]

    async def page(
        self, viewer: Grant, status: str | None, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the approvals of `viewer`'s tenant that it may see, newest first;
        `status` filters."""
        now = self._clock()
        where = [_A.tenant_id == viewer.tenant_id, *await self._visible(viewer)]
        if status == "expired":
            where += [_A.status.in_(("pending", "approved")), _A.expires_ns <= now]
        elif status in ("pending", "approved"):
            where += [_A.status == status, _A.expires_ns > now]
        elif status is not None:
            where.append(_A.status == status)
        if after is not None:
            where.append(_A.id < after)
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(tool_approvals).where(*where).order_by(_A.id.desc()).limit(limit + 1)
                )
            )
        shown = [approval_json(row, now) for row in rows[:limit]]
        return shown, (shown[-1]["id"] if len(rows) > limit else None)

    async def decide(
        self,
        grant: Grant,
        approval_id: str,
        approve: bool,
        reason: str | None,
        request_id: str | None,
    ) -> dict[str, Any]:
        """Approve or deny a pending approval (audited); 403 for the requester, 409 when it
        is decided or expired already."""
        found = await self.get(grant.tenant_id, approval_id)
        async with self.engine.connect() as conn:
            requested_by = await conn.scalar(sa.select(_A.requested_by).where(_A.id == approval_id))
        if requested_by == grant.principal_id:
            raise PermissionDeniedError("the requester of a call cannot decide its approval")
        now = self._clock()
        status = "approved" if approve else "denied"
        async with self.engine.begin() as conn:
            done = await conn.execute(
                tool_approvals.update()
                .where(
                    _A.id == approval_id, _A.tenant_id == grant.tenant_id,
                    _A.status == "pending", _A.expires_ns > now,
                )
                .values(status=status, decided_by=grant.actor, decided_ns=now, reason=reason)
            )  # fmt: skip
            if done.rowcount != 1:
                raise ConflictError(f"approval {approval_id} is {found['status']}, not pending")
            event = AuditEvent(
                grant.tenant_id, grant.actor, f"approval.{'approve' if approve else 'deny'}",
                f"approval/{approval_id}", {"status": "pending"},
                {"status": status, "tool": found["tool"], "args_hash": found["args_hash"]},
                request_id,
            )  # fmt: skip
            await append(conn, [event])
        return await self.get(grant.tenant_id, approval_id)
