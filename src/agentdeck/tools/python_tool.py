"""Python tools: callables registered as entry points of group `agentdeck.tools`, called with
the arguments as one dict. A coroutine function (or an object whose `__call__` is one) is
awaited on the event loop. A plain function runs in one of the tools' threads
(`tools.python_threads`, `tools.threads`), in the caller's context, so a slow or stuck one
neither stalls the server nor escapes the tool's timeout: the call ends at the deadline (the
thread cannot be stopped; its late result is dropped). A function marked with `@inline`
(quick, pure code: a hop to a thread costs more than it does) is called on the loop instead."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from agentdeck.errors import ConfigurationError
from agentdeck.plugins import load_plugin
from agentdeck.tools.models import PythonImplementation, ToolCallFailed
from agentdeck.tools.threads import NoThreadFree, ToolThreads

GROUP = "agentdeck.tools"
_INLINE = "__agentdeck_inline__"
F = TypeVar("F", bound=Callable[..., Any])


def inline(function: F) -> F:
    """Mark a quick synchronous tool to be called on the event loop instead of a thread. Only
    for code that takes microseconds and never blocks: on the loop, nothing can interrupt it."""
    setattr(function, _INLINE, True)
    return function


class ToolFailure(Exception):  # noqa: N818 - what a tool raises, named for its authors
    """Raise from a Python tool to fail with a message the model can read."""

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


class PythonTools:
    """Loads and calls entry-point tools (each loaded once)."""

    def __init__(self, threads: int = 16) -> None:
        self._loaded: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.threads = ToolThreads(threads)

    def load(self, entry_point: str) -> Callable[[dict[str, Any]], Any]:
        """The callable registered as `entry_point`."""
        found = self._loaded.get(entry_point)
        if found is None:
            try:
                found = load_plugin(GROUP, {}, entry_point, "tool", "tool")
            except ConfigurationError as exc:
                raise ToolCallFailed("not_found", exc.message, False, upstream=False) from None
            if not callable(found):
                raise ToolCallFailed(
                    "internal_error", f"entry point {entry_point!r} is not callable", False, False
                )
            self._loaded[entry_point] = found
        return found

    async def call(
        self, impl: PythonImplementation, arguments: dict[str, Any], left_s: float
    ) -> Any:
        """The tool's result; raises ToolCallFailed. `left_s`: how long the call may still take
        (a call that finds every thread busy for that long fails without counting against the
        tool, whose fault it is not)."""
        function = self.load(impl.entry_point)
        try:
            if _on_loop(function):
                result = function(arguments)
            else:
                result = await self.threads.run(function, arguments, left_s * 0.9)
            if inspect.isawaitable(result):
                result = await result
        except NoThreadFree:
            raise ToolCallFailed(
                "timeout",
                f"all {self.threads.size} Python tool threads stayed busy (tools "
                "running past their timeouts); raise tools.python_threads or fix those tools",
                True,
                upstream=False,
            ) from None
        except ToolFailure as exc:
            raise ToolCallFailed("upstream_error", exc.message, exc.retriable) from None
        except Exception as exc:  # noqa: BLE001 - a tool's bug becomes its structured error
            message = f"the tool raised {type(exc).__name__}: {exc}"[:500]
            raise ToolCallFailed("upstream_error", message, False) from None
        return result

    def close(self) -> None:
        """Let the tool threads end (stuck ones are daemons: never waited for)."""
        self.threads.close()


def _on_loop(function: Callable[..., Any]) -> bool:
    """Whether `function` runs on the event loop: a coroutine function, an object with an
    async `__call__`, or a function marked `@inline`."""
    return (
        inspect.iscoroutinefunction(function)
        or inspect.iscoroutinefunction(type(function).__call__)  # callable: checked at load
        or getattr(function, _INLINE, False)
    )
