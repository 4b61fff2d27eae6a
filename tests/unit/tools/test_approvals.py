"""Approvals of high-risk calls on SQLite and PostgreSQL: a call without one pauses and asks;
an approval binds to the tool, the arguments' hash, the run and the requester; it is used once
(also by racing calls), expires, and cannot be decided by the requester; it is seen only by
those who may decide it and its requester; denied calls get a structured `denied` result;
every decision is audited."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import ConflictError, NotFoundError, PermissionDeniedError
from agentdeck.identity.rbac import Role
from agentdeck.identity.tables import audit_events
from agentdeck.tools.approvals import Approvals
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolResult, ToolSpec
from tests.unit.tools.conftest import TENANT, grant

RUNS: list[dict[str, object]] = []


def _transfer(arguments: dict[str, object]) -> dict[str, object]:
    RUNS.append(arguments)
    return {"sent": arguments["amount"]}


SPEC = ToolSpec(
    "transfer", "move money", {"type": "object", "properties": {"amount": {"type": "integer"}}},
    None, PythonImplementation("transfer"), risk="high", tenant_id=TENANT,
)  # fmt: skip
ASKER = ToolCaller(grant("developer", principal="usr_asker"), run_id="run_1")
APPROVER = grant("admin", principal="usr_boss")


@pytest.fixture(autouse=True)
def transfer_tool(executor: ToolExecutor) -> None:
    """`transfer` as a loaded Python tool that records its runs."""
    executor.python._loaded["transfer"] = _transfer
    RUNS.clear()


def approvals(executor: ToolExecutor) -> Approvals:
    found = executor._approvals
    assert found is not None
    return found


async def ask(executor: ToolExecutor, amount: int = 5, **kw: object) -> ToolResult:
    return await executor.execute(SPEC, {"amount": amount}, kw.pop("caller", ASKER), **kw)  # type: ignore[arg-type]


async def test_a_high_risk_call_waits_then_runs_once_when_approved(
    executor: ToolExecutor, store: AsyncEngine
) -> None:
    first = await ask(executor)
    assert first.error is not None
    assert first.error.type == "approval_required"
    assert first.error.retriable
    assert first.approval_id is not None
    assert RUNS == []
    shown = await approvals(executor).get(TENANT, first.approval_id)
    assert (shown["status"], shown["tool"], shown["arguments"], shown["run_id"]) == (
        "pending", "transfer", {"amount": 5}, "run_1",
    )  # fmt: skip
    again = await ask(executor, approval_id=first.approval_id)
    assert again.error is not None
    assert again.error.type == "approval_required"
    assert again.approval_id == first.approval_id  # still waiting: the same request
    decided = await approvals(executor).decide(APPROVER, first.approval_id, True, "ok", "r1")
    assert (decided["status"], decided["decided_by"]) == ("approved", "user:usr_boss")
    done = await ask(executor, approval_id=first.approval_id)
    assert done.to_json() == {"ok": True, "result": {"sent": 5}}
    assert RUNS == [{"amount": 5}]
    reused = await ask(executor, approval_id=first.approval_id)
    assert reused.error is not None
    assert reused.error.type == "approval_required"
    assert reused.approval_id != first.approval_id
    assert RUNS == [{"amount": 5}]
    assert (await approvals(executor).get(TENANT, first.approval_id))["status"] == "used"
    async with store.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_events.c.action, audit_events.c.actor, audit_events.c.resource)
        )
        assert list(rows) == [
            ("approval.approve", "user:usr_boss", f"approval/{first.approval_id}")
        ]


async def test_an_approval_binds_to_arguments_run_requester_and_tool(
    executor: ToolExecutor,
) -> None:
    asked = await ask(executor)
    assert asked.approval_id is not None
    await approvals(executor).decide(APPROVER, asked.approval_id, True, None, None)
    other_run = ToolCaller(ASKER.grant, run_id="run_2")
    other_person = ToolCaller(grant("developer", principal="usr_other"), run_id="run_1")
    for attempt in (
        ask(executor, amount=6, approval_id=asked.approval_id),
        ask(executor, caller=other_run, approval_id=asked.approval_id),
        ask(executor, caller=other_person, approval_id=asked.approval_id),
    ):
        result = await attempt
        assert result.error is not None
        assert result.error.type == "approval_required"
        assert result.approval_id != asked.approval_id
    other_tool = ToolSpec(
        "transfer2", "d", SPEC.input_schema, None, PythonImplementation("transfer"),
        risk="high", tenant_id=TENANT,
    )  # fmt: skip
    result = await executor.execute(other_tool, {"amount": 5}, ASKER, asked.approval_id)
    assert result.error is not None
    assert result.error.type == "approval_required"
    assert RUNS == []
    assert (await ask(executor, approval_id=asked.approval_id)).ok  # still good for its own call


async def test_racing_calls_with_one_approval_run_the_tool_once(executor: ToolExecutor) -> None:
    asked = await ask(executor)
    assert asked.approval_id is not None
    await approvals(executor).decide(APPROVER, asked.approval_id, True, None, None)
    results = await asyncio.gather(
        *(ask(executor, approval_id=asked.approval_id) for _ in range(8))
    )
    assert sum(r.ok for r in results) == 1
    assert len(RUNS) == 1


async def test_a_denied_call_gets_a_denied_result(executor: ToolExecutor) -> None:
    asked = await ask(executor)
    assert asked.approval_id is not None
    await approvals(executor).decide(APPROVER, asked.approval_id, False, "no", None)
    result = await ask(executor, approval_id=asked.approval_id)
    assert result.to_json() == {
        "ok": False,
        "error": {
            "type": "denied",
            "message": "a person denied this call of 'transfer'",
            "retriable": False,
        },
    }
    assert RUNS == []
    with pytest.raises(ConflictError):
        await approvals(executor).decide(APPROVER, asked.approval_id, True, None, None)


async def test_the_requester_cannot_decide_and_other_tenants_cannot_see(
    executor: ToolExecutor,
) -> None:
    asked = await ask(executor)
    assert asked.approval_id is not None
    self_approver = grant("owner", principal="usr_asker")
    with pytest.raises(PermissionDeniedError):
        await approvals(executor).decide(self_approver, asked.approval_id, True, None, None)
    with pytest.raises(NotFoundError):
        await approvals(executor).get("ten_other", asked.approval_id)
    page, _ = await approvals(executor).page(
        replace(APPROVER, tenant_id="ten_other"), None, None, 10
    )
    assert page == []


async def test_an_approval_is_seen_by_its_deciders_and_requester_only(
    executor: ToolExecutor,
) -> None:
    asked = await ask(executor)
    assert asked.approval_id is not None
    mine = await ask(executor, caller=ToolCaller(grant("developer", principal="usr_desk")))
    assert mine.approval_id is not None
    desk = Role("desk", frozenset({"tools:approve"}), {"tools": ("trans*",)})
    elsewhere = Role("elsewhere", frozenset({"tools:approve"}), {"tools": ("read_*",)})
    both = {asked.approval_id, mine.approval_id}
    for viewer, seen in [
        (APPROVER, both),  # tools:approve on every tool
        (grant(desk, principal="usr_desk"), both),  # on this tool
        (ASKER.grant, {asked.approval_id}),  # its own request
        (grant("developer", principal="usr_desk"), {mine.approval_id}),
        (grant(elsewhere, principal="usr_desk"), {mine.approval_id}),  # other tools; its own
        (grant("viewer", principal="usr_viewer"), set()),
    ]:
        page, _ = await approvals(executor).page(viewer, None, None, 10)
        assert {a["id"] for a in page} == seen, viewer.access
        for approval_id in both:
            if approval_id in seen:
                found = await approvals(executor).get(TENANT, approval_id, viewer)
                assert found["id"] == approval_id
            else:
                with pytest.raises(NotFoundError):
                    await approvals(executor).get(TENANT, approval_id, viewer)


async def test_an_approval_expires(store: AsyncEngine, executor: ToolExecutor) -> None:
    now = [10**18]
    expiring = Approvals(store, 1.0, clock=lambda: now[0])
    executor._approvals = expiring
    asked = await ask(executor)
    assert asked.approval_id is not None
    await expiring.decide(APPROVER, asked.approval_id, True, None, None)
    now[0] += 2 * 10**9
    assert (await expiring.get(TENANT, asked.approval_id))["status"] == "expired"
    late = await ask(executor, approval_id=asked.approval_id)
    assert late.error is not None
    assert late.error.type == "approval_required"
    assert late.approval_id != asked.approval_id
    assert RUNS == []
    expired, _ = await expiring.page(APPROVER, "expired", None, 10)
    assert [a["id"] for a in expired] == [asked.approval_id]
    with pytest.raises(ConflictError):
        await expiring.decide(APPROVER, asked.approval_id, False, None, None)
