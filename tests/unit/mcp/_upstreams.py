"""Real upstream MCP servers for the tests (`upstream_server.py`, written with the `mcp` SDK):
one started over stdio by agentdeck, one served over Streamable HTTP on a loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPT = str(Path(__file__).with_name("upstream_server.py"))


def stdio_upstream(name: str = "local", **extra: Any) -> dict[str, Any]:
    """Settings of an upstream agentdeck starts as a subprocess and speaks stdio to."""
    return {"transport": "stdio", "command": sys.executable, "args": [SCRIPT, "stdio", name],
            **extra}  # fmt: skip


def http_upstream(port: int, **extra: Any) -> dict[str, Any]:
    """Settings of an upstream served over Streamable HTTP on `port`."""
    return {"transport": "http", "url": f"http://127.0.0.1:{port}/mcp", **extra}


def start_http_upstream(port: int, name: str = "web") -> subprocess.Popen[bytes]:
    """Serve `upstream_server.py` over Streamable HTTP on 127.0.0.1:`port`, once it listens."""
    process = subprocess.Popen(
        [sys.executable, SCRIPT, "http", name, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the HTTP upstream did not start listening")


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the upstream at once (it holds streams open, so it would not end gracefully)."""
    process.kill()
    process.wait(timeout=10)
