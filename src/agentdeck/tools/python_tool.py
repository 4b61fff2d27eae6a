"""Python tools: callables registered as entry points of group `agentdeck.tools`, called with
the arguments as one dict. A coroutine function is awaited on the event loop. A plain function
runs in the tools' own bounded thread pool (`tools.python_threads`), so a slow or stuck one
neither stalls the server nor escapes the tool's timeout: the call ends at the deadline (the
thread cannot be stopped; its late result is dropped, and the bounded pool keeps runaway tools
from taking more than their threads). A function marked with `@inline` (quick, pure code: a
hop to a thread costs more than it does) is called on the loop instead."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from agentdeck.errors import ConfigurationError
from agentdeck.plugins import load_plugin
from agentdeck.tools.models import PythonImplementation, ToolCallFailed

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
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # made on first use

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

    async def call(self, impl: PythonImplementation, arguments: dict[str, Any]) -> Any:
        """The tool's result; raises ToolCallFailed."""
        function = self.load(impl.entry_point)
        try:
            if inspect.iscoroutinefunction(function) or getattr(function, _INLINE, False):
                result = function(arguments)
            else:
                result = await self._in_thread(function, arguments)
            if inspect.isawaitable(result):
                result = await result
        except ToolFailure as exc:
            raise ToolCallFailed("upstream_error", exc.message, exc.retriable) from None
        except Exception as exc:  # noqa: BLE001 - a tool's bug becomes its structured error
            message = f"the tool raised {type(exc).__name__}: {exc}"[:500]
            raise ToolCallFailed("upstream_error", message, False) from None
        return result

    async def _in_thread(self, function: Callable[[dict[str, Any]], Any], arguments: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="agentdeck-tool")
        call = functools.partial(function, arguments)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Let the pool's threads end (without waiting for stuck tools)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
