"""The floor: a raw ASGI pass-through that forwards the POST body to the upstream and returns
the upstream's bytes. Same server stack as agentdeck (uvicorn, uvloop, httptools, no access
log) and one pooled aiohttp session, and nothing else: no routing, parsing or accounting.

Run: python bench/bare_proxy.py --port 8081 --upstream http://127.0.0.1:9090
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

Scope = dict[str, Any]
_READY = b'{"status":"ready"}'


class BareProxy:
    """Forwards every POST to `upstream` + the same path; GET /readyz answers 200."""

    def __init__(self, upstream: str, connections: int) -> None:
        """Remember where to forward; the session is opened in the lifespan."""
        self.upstream = upstream.rstrip("/")
        self.connections = connections
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one ASGI event."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/readyz":
            await _respond(send, 200, b"application/json", _READY)
            return
        body = await _read_body(receive)
        assert self.session is not None
        async with self.session.post(
            self.upstream + scope["path"], data=body, headers={"content-type": "application/json"}
        ) as upstream:
            payload = await upstream.read()
            content_type = upstream.headers.get("content-type", "application/json").encode()
            await _respond(send, upstream.status, content_type, payload)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        """Open the pooled session on startup and close it on shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Same pool size agentdeck uses by default (gateway.upstream_connections).
                connector = aiohttp.TCPConnector(limit=self.connections)
                self.session = aiohttp.ClientSession(connector=connector)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Any) -> bytes:
    """The whole request body."""
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _respond(send: Any, status: int, content_type: bytes, payload: bytes) -> None:
    """Send a complete response with a content length."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9090")
    parser.add_argument("--connections", type=int, default=256)
    args = parser.parse_args()
    uvicorn.run(
        BareProxy(args.upstream, args.connections),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        # agentdeck's `serve` turns both off too; keep the wire work identical.
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
