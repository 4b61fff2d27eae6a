"""`McpBackend` over the upstream sessions: how the tool executor runs a tool of an upstream
MCP server (the executor adds validation, allowlists, approvals, retries, spans and audit)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from agentdeck.mcp.upstreams import Upstreams, UpstreamUnavailable
from agentdeck.tools.mcp_backend import McpToolFailed


def _text_of(result: types.CallToolResult) -> str:
    """The text an upstream put in its error result."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    return "\n".join(texts) or "the upstream tool reported an error"


class UpstreamBackend:
    """Calls tools of the configured upstreams (implements `tools.mcp_backend.McpBackend`)."""

    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams

    async def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> Any:
        """The tool's structured result, else its content blocks as {"content": [...]};
        McpToolFailed when the upstream reports an error or is unreachable."""
        upstream = self._upstreams.by_name.get(server)
        if upstream is None:
            raise McpToolFailed(f"no MCP upstream named {server!r}", retriable=False)
        try:
            result = await upstream.call_tool(tool, arguments, timeout_s)
        except UpstreamUnavailable as exc:
            raise McpToolFailed(f"MCP upstream {server!r} is unavailable: {exc}", True) from exc
        except MCPError as exc:
            raise McpToolFailed(f"MCP upstream {server!r} refused the call: {exc}", False) from exc
        if result.is_error:
            raise McpToolFailed(f"{server}/{tool}: {_text_of(result)}", retriable=False)
        if result.structured_content is not None:
            return result.structured_content
        return {
            "content": [
                block.model_dump(mode="json", by_alias=True, exclude_none=True)
                for block in result.content
            ]
        }
