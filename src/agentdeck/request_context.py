"""The front door: the outermost ASGI layer every request passes.

It gives each request an id (`x-agentdeck-request-id` on every response), records the HTTP
metrics, answers anything unexpected with an OpenAI-shaped 500 naming that id (logged), and
hands the gateway's hot routes straight to their raw ASGI handlers, skipping the router.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.errors import AgentdeckError
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "agentdeck.request_id"
REQUEST_ID_HEADER = b"x-agentdeck-request-id"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RequestIds:
    """Unique request ids without a system call each: a random per-process prefix and a
    counter (`req_` + 24 hex digits). They identify, they do not authorize anything."""

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(6).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next(self) -> str:
        """A new id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


class RequestContextMiddleware:
    """Request ids, HTTP metrics, last-resort 500s, and direct dispatch of hot routes."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        known_paths: frozenset[str],
        fast_routes: Mapping[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._known_paths = known_paths
        self._fast = dict(fast_routes or {})
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one request."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = self._ids.next()
        scope[REQUEST_ID_KEY] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        method, path = scope["method"], scope["path"]
        try:
            await self._fast.get((method, path), self._app)(scope, receive, send_with_id)
        except Exception:
            # Recorded here with its request id; the client gets a 500 naming that id.
            log.exception("unhandled error in request %s", request_id)
            if status == 0:
                error = AgentdeckError(f"internal error; quote request id {request_id}")
                body = error.to_json()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            status = status or 500
        finally:
            route = path if path in self._known_paths else "other"
            self._metrics.http_requests.labels(
                route, method if method in _METHODS else "OTHER", str(status)
            ).inc()
            self._metrics.http_latency.labels(route).observe(time.perf_counter() - started)
