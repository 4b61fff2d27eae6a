"""Python tools: callables registered as entry points of group `agentdeck.tools`, called with
the arguments as one dict; a coroutine function is awaited. A sync function runs on the event
loop, so it must be quick (a slow one should be async): a thread per call would cost more
than the executor's whole budget for a local tool."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agentdeck.errors import ConfigurationError
from agentdeck.plugins import load_plugin
from agentdeck.tools.models import PythonImplementation, ToolCallFailed

GROUP = "agentdeck.tools"


class ToolFailure(Exception):  # noqa: N818 - what a tool raises, named for its authors
    """Raise from a Python tool to fail with a message the model can read."""

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


class PythonTools:
    """Loads and calls entry-point tools (each loaded once)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Callable[[dict[str, Any]], Any]] = {}

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
            result = function(arguments)
            if inspect.isawaitable(result):
                result = await result
        except ToolFailure as exc:
            raise ToolCallFailed("upstream_error", exc.message, exc.retriable) from None
        except Exception as exc:  # noqa: BLE001 - a tool's bug becomes its structured error
            message = f"the tool raised {type(exc).__name__}: {exc}"[:500]
            raise ToolCallFailed("upstream_error", message, False) from None
        return result
