"""What the executor needs from the MCP gateway to run a tool of an upstream MCP server: the
`mcp` package implements this protocol and the app hands it to the executor (tools sit below
mcp and never import it)."""

from __future__ import annotations

from typing import Any, Protocol


class McpToolFailed(Exception):  # noqa: N818 - the contract's name
    """The upstream reported `isError`, or failed to answer."""

    def __init__(self, message: str, retriable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


class McpBackend(Protocol):
    """Calls tools of upstream MCP servers."""

    async def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> Any:
        """The tool's result as JSON-ready data (structuredContent when the upstream gives
        it, else {"content": [...]}); raises McpToolFailed, or TimeoutError when late."""
        ...
