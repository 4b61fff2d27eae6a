"""Python tools in the executor: a plain function runs in one of the tools' daemon threads, in
the caller's context, so a slow or stuck one neither stalls the event loop, nor escapes its
timeout, nor keeps the process from exiting; a call that finds every thread busy fails without
counting against its tool; an `@inline` function, a coroutine function and an object with an
async `__call__` run on the loop."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentdeck.settings_tools import ToolSettings
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolSpec
from agentdeck.tools.python_tool import inline
from tests.unit.tools.conftest import TENANT, grant

DEV = ToolCaller(grant("developer"))
RELEASE = threading.Event()
TENANT_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")


def _spec(entry: str, timeout_s: float = 5.0) -> ToolSpec:
    return ToolSpec(
        entry, "d", {"type": "object"}, None, PythonImplementation(entry), tenant_id=TENANT,
        timeout_s=timeout_s,
    )  # fmt: skip


def where(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"thread": threading.current_thread().name}


@inline
def where_inline(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"thread": threading.current_thread().name}


async def where_async(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"thread": threading.current_thread().name}


def context(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tenant": TENANT_VAR.get()}


class AsyncCallable:
    async def __call__(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"thread": threading.current_thread().name}


def stuck(arguments: dict[str, Any]) -> dict[str, Any]:
    RELEASE.wait(10)  # a tool blocked on I/O that never answers
    return {"late": True}


@pytest.fixture
async def tools() -> AsyncIterator[ToolExecutor]:
    executor = ToolExecutor(ToolSettings())
    loaded = executor.python._loaded
    loaded.update(where=where, where_inline=where_inline, where_async=where_async, stuck=stuck,
                  context=context, callable_object=AsyncCallable())  # fmt: skip
    RELEASE.clear()
    yield executor
    RELEASE.set()
    await executor.aclose()


async def test_a_plain_function_runs_in_a_tool_thread_inline_and_async_on_the_loop(
    tools: ToolExecutor,
) -> None:
    loop_thread = threading.current_thread().name
    threaded = await tools.execute(_spec("where"), {}, DEV)
    assert threaded.ok
    assert threaded.result["thread"].startswith("agentdeck-tool")
    assert (await tools.execute(_spec("where_inline"), {}, DEV)).result == {"thread": loop_thread}
    assert (await tools.execute(_spec("where_async"), {}, DEV)).result == {"thread": loop_thread}
    assert (await tools.execute(_spec("callable_object"), {}, DEV)).result == {
        "thread": loop_thread
    }


async def test_a_threaded_tool_sees_the_callers_context(tools: ToolExecutor) -> None:
    TENANT_VAR.set("ten_42")
    assert (await tools.execute(_spec("context"), {}, DEV)).result == {"tenant": "ten_42"}


async def test_a_stuck_sync_tool_times_out_and_the_loop_keeps_running(tools: ToolExecutor) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    running = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        result = await tools.execute(_spec("stuck", timeout_s=0.3), {}, DEV)
    finally:
        running.cancel()
        RELEASE.set()
    took = time.monotonic() - started
    assert result.to_json()["error"]["type"] == "timeout"
    assert result.error is not None
    assert result.error.retriable
    assert 0.3 <= took < 2.0
    assert ticks >= 10  # on the loop, a blocked tool would have allowed none


async def test_the_pool_bounds_the_threads_stuck_tools_can_take() -> None:
    # A breaker that opens at the first failure: waiting for a thread must not count.
    executor = ToolExecutor(ToolSettings(python_threads=2, breaker_failures=1))
    executor.python._loaded["stuck"] = stuck
    executor.python._loaded["where"] = where
    RELEASE.clear()
    try:
        stuck_calls = [executor.execute(_spec("stuck", 0.2), {}, DEV) for _ in range(3)]
        results = await asyncio.gather(*stuck_calls)
        assert [r.error.type for r in results if r.error] == ["timeout"] * 3
        # Both threads are still held by stuck tools: the next call queues and times out too,
        # instead of a third thread being started.
        queued = await executor.execute(_spec("where", 0.2), {}, DEV)
        assert queued.error is not None
        assert queued.error.type == "timeout"
        assert "all 2 Python tool threads stayed busy" in queued.error.message
        RELEASE.set()
        for _ in range(100):  # the stuck tools return once released; the pool serves again
            served = await executor.execute(_spec("where", 1.0), {}, DEV)
            if served.ok:
                break
        assert served.ok
        assert {t.name for t in threading.enumerate() if t.name.startswith("agentdeck-tool")} <= {
            "agentdeck-tool_0", "agentdeck-tool_1",
        }  # fmt: skip
    finally:
        RELEASE.set()
        await executor.aclose()


def test_a_stuck_tool_does_not_keep_the_process_from_exiting() -> None:
    script = textwrap.dedent(
        """
        import asyncio, time
        from agentdeck.settings_tools import ToolSettings
        from agentdeck.tools.executor import ToolExecutor
        from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolSpec
        from tests.unit.tools.conftest import TENANT, grant

        async def main():
            executor = ToolExecutor(ToolSettings())
            executor.python._loaded["sleepy"] = lambda arguments: time.sleep(60)
            spec = ToolSpec("sleepy", "d", {"type": "object"}, None,
                            PythonImplementation("sleepy"), tenant_id=TENANT, timeout_s=0.2)
            result = await executor.execute(spec, {}, ToolCaller(grant("developer")))
            print(result.error.type)
            await executor.aclose()

        asyncio.run(main())
        """
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timeout"
    assert time.monotonic() - started < 20  # the stuck thread sleeps 60 s and is not waited for
