"""A real MCP server written with the `mcp` SDK, used as an upstream in the tests: over stdio
(`python upstream_server.py stdio NAME`) or Streamable HTTP (`... http NAME PORT`)."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

name = sys.argv[2] if len(sys.argv) > 2 else "upstream"
server = MCPServer(name)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"{name}: {text}"


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the reason."""
    raise ToolError(f"refused: {reason}")


@server.tool()
def delete_everything(confirm: bool) -> str:
    """A risky tool."""
    return "deleted" if confirm else "kept"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool called `fresh` and announce that the tool list changed."""

    def fresh() -> str:
        """A tool that appeared later."""
        return "fresh"

    server.add_tool(fresh)
    await ctx.notify_tools_changed()  # to 2026-era subscribers (subscriptions/listen)
    if ctx.protocol_version != "2026-07-28":  # handshake-era clients get the notification
        await ctx.request_context.session.send_tool_list_changed()
    return "grown"


@server.resource("note://hello")
def hello() -> str:
    """A resource."""
    return "hello"


@server.prompt()
def greet(who: str) -> str:
    """A prompt."""
    return f"Greet {who}"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]))
