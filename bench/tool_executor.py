"""Micro-benchmark of the tool executor's overhead for a local Python tool, in process on one
core: each `ToolExecutor.execute()` (allowlist, argument and result schemas, breaker, timeout,
structured result, the `execute_tool` span built and handed to the recorder, and the audit
event built and queued) minus a bare call of the same function. Target: overhead of at most
0.5 ms at the median. A plain function runs in the tools' thread pool (the default); the same
function marked `@inline` runs on the event loop; both are measured.

Each figure is over many calls timed with `time.perf_counter_ns`, after a warm-up.

Run: .venv/bin/python bench/tool_executor.py [--iterations 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from agentdeck.identity.grants import Grant
from agentdeck.identity.rbac import Access, builtin_role
from agentdeck.settings_tools import ToolSettings
from agentdeck.settings_tracing import ContentSettings
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolSpec
from agentdeck.tools.python_tool import inline
from agentdeck.tools.spans import ToolSpans
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.spans import Span

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
RESULT = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}


def add(arguments: dict[str, Any]) -> dict[str, Any]:
    """The local tool."""
    return {"sum": arguments["a"] + arguments["b"]}


@inline
def add_inline(arguments: dict[str, Any]) -> dict[str, Any]:
    """The local tool, marked to run on the event loop."""
    return add(arguments)


class NullAudit:
    """Takes audit events and drops them (the real queue only puts them on an asyncio.Queue)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, event: object) -> None:
        """Count `event`."""
        self.count += 1


class NullRecorder:
    """Takes spans and drops them (the real recorder only appends to a queue here)."""

    def __init__(self) -> None:
        self.count = 0

    def record(self, span: Span) -> None:
        """Count `span`."""
        self.count += 1


def percentile(values: list[int], share: float) -> float:
    """The nearest-rank percentile of `values`, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6


async def measure(iterations: int, spans: bool, on_loop: bool) -> tuple[list[int], list[int]]:
    """Times of `execute()` (in a thread, or `on_loop`) and of the bare call, in nanoseconds."""
    recorder = NullRecorder()
    content = ContentPolicies(ContentSettings(capture=False), lambda kinds: lambda text: text)
    executor = ToolExecutor(
        ToolSettings(),
        spans=ToolSpans(recorder, content) if spans else None,  # type: ignore[arg-type]
        audit=NullAudit() if spans else None,  # type: ignore[arg-type]
    )
    executor.python._loaded["add"] = add_inline if on_loop else add
    spec = ToolSpec("add", "adds", SCHEMA, RESULT, PythonImplementation("add"), tenant_id="t")
    grant = Grant("k", "t", "t", "p", "u", "u", "user", access=Access((builtin_role("developer"),)))  # type: ignore[arg-type]
    caller = ToolCaller(grant)
    arguments = {"a": 2, "b": 3}
    for _ in range(1000):
        assert (await executor.execute(spec, arguments, caller)).ok
    executed, bare = [], []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        await executor.execute(spec, arguments, caller)
        executed.append(time.perf_counter_ns() - started)
        started = time.perf_counter_ns()
        add(arguments)
        bare.append(time.perf_counter_ns() - started)
    return executed, bare


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20_000)
    iterations = parser.parse_args().iterations
    print(f"tool executor overhead, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}), {iterations} calls")  # fmt: skip
    print(f"{'variant':<36} {'p50 ms':>8} {'p99 ms':>8} {'overhead p50 ms':>16}")
    variants = (
        ("thread, span and audit", True, False),
        ("thread, no span or audit", False, False),
        ("@inline, span and audit", True, True),
        ("@inline, no span or audit", False, True),
    )
    for label, spans, on_loop in variants:
        executed, bare = asyncio.run(measure(iterations, spans, on_loop))
        overhead = statistics.median(executed) / 1e6 - statistics.median(bare) / 1e6
        print(f"{label:<36} {percentile(executed, 0.5):>8.4f} {percentile(executed, 0.99):>8.4f} "
              f"{overhead:>16.4f}")  # fmt: skip
    print(
        f"{'bare function call':<36} {percentile(bare, 0.5):>8.4f} {percentile(bare, 0.99):>8.4f}"
    )
    print("target: overhead p50 <= 0.5 ms")


if __name__ == "__main__":
    main()
