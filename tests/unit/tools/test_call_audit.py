"""Every tool call is audited and counted, run, refused or cancelled: one event per call in the
tenant's hash chain, action `tool.call.<outcome>` on `tool/<name>`, by the caller, with the
request id, and the arguments' hash, agent, run and approval in its `after`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.identity.audit_chain import digest
from agentdeck.identity.audit_log import AuditQueue, events, verify_tenant
from agentdeck.settings_tools import ToolSettings
from agentdeck.tools.approvals import Approvals
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolSpec, arguments_hash
from agentdeck.tracing.metrics import Metrics
from tests.unit.tools.conftest import TENANT, grant

SUM = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def _add(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"sum": arguments["a"] + 1}


RELEASE = threading.Event()


def _slow(arguments: dict[str, Any]) -> dict[str, Any]:
    RELEASE.wait(10)
    return {"sum": 0}


def _spec(name: str, risk: str = "low") -> ToolSpec:
    return ToolSpec(
        name, "d", SUM, None, PythonImplementation("add"), tenant_id=TENANT, risk=risk,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def audited(store: AsyncEngine) -> AsyncIterator[tuple[ToolExecutor, AuditQueue]]:
    queue = AuditQueue(store)
    await queue.start()
    metrics = Metrics()
    executor = ToolExecutor(
        ToolSettings(), approvals=Approvals(store, 60), audit=queue, metrics=metrics
    )
    executor.python._loaded["add"] = _add
    executor.python._loaded["slow"] = _slow
    yield executor, queue
    await executor.aclose()
    await queue.stop()


def _count(executor: ToolExecutor, outcome: str) -> float | None:
    """The executor's `agentdeck_tool_calls_total` for `outcome` (None: never counted)."""
    metrics = executor.metrics
    assert metrics is not None
    return metrics.registry.get_sample_value("agentdeck_tool_calls_total", {"outcome": outcome})


class Specs:
    async def get(self, tenant_id: str, name: str) -> ToolSpec | None:
        return None


async def test_each_call_run_or_refused_is_one_audit_event(
    audited: tuple[ToolExecutor, AuditQueue], store: AsyncEngine
) -> None:
    executor, queue = audited
    dev = ToolCaller(grant("developer", principal="usr_dev"), agent="bot", run_id="run_9",
                     request_id="req_1")  # fmt: skip
    viewer = ToolCaller(grant("viewer", principal="usr_view"), request_id="req_2")
    assert (await executor.execute(_spec("add"), {"a": 1}, dev)).ok
    assert not (await executor.execute(_spec("add"), {"a": 1}, viewer)).ok
    assert not (await executor.execute(_spec("add"), {"a": "x"}, dev)).ok
    paused = await executor.execute(_spec("pay", "high"), {"a": 2}, dev)
    executor._specs = Specs()
    assert not (await executor.call("ghost", {"a": 3}, dev)).ok
    await queue.stop()

    found = [e async for e in events(store, TENANT)]
    assert [(e["action"], e["resource"], e["request_id"]) for e in found] == [
        ("tool.call.ok", "tool/add", "req_1"),
        ("tool.call.not_allowed", "tool/add", "req_2"),
        ("tool.call.invalid_arguments", "tool/add", "req_1"),
        ("tool.call.approval_required", "tool/pay", "req_1"),
        ("tool.call.not_found", "tool/ghost", "req_1"),
    ]
    assert [e["actor"] for e in found] == [
        dev.grant.actor, viewer.grant.actor, dev.grant.actor, dev.grant.actor, dev.grant.actor,
    ]  # fmt: skip
    assert found[0]["after_digest"] == digest(
        {"args_hash": arguments_hash({"a": 1}), "agent": "bot", "run_id": "run_9",
         "approval_id": None}
    )  # fmt: skip
    assert paused.approval_id is not None
    assert found[3]["after_digest"] == digest(
        {"args_hash": arguments_hash({"a": 2}), "agent": "bot", "run_id": "run_9",
         "approval_id": paused.approval_id}
    )  # fmt: skip
    assert (await verify_tenant(store, TENANT)).ok
    assert [_count(executor, outcome) for outcome in (
        "ok", "not_allowed", "invalid_arguments", "approval_required", "not_found", "timeout"
    )] == [1, 1, 1, 1, 1, None]  # fmt: skip


async def test_a_cancelled_call_is_audited_and_counted_then_cancelled(
    audited: tuple[ToolExecutor, AuditQueue], store: AsyncEngine
) -> None:
    executor, queue = audited
    RELEASE.clear()
    slow = ToolSpec("slow", "d", SUM, None, PythonImplementation("slow"), tenant_id=TENANT)
    caller = ToolCaller(grant("developer"), request_id="req_c")
    running = asyncio.create_task(executor.execute(slow, {"a": 1}, caller))
    await asyncio.sleep(0.1)
    running.cancel()
    try:
        await running
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation did not reach the caller")
    finally:
        RELEASE.set()
    await queue.stop()
    found = [(e["action"], e["resource"], e["request_id"]) async for e in events(store, TENANT)]
    assert found == [("tool.call.cancelled", "tool/slow", "req_c")]
    assert _count(executor, "cancelled") == 1
