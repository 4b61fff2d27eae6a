"""Outermost ASGI middleware: a request id on every response, HTTP metrics, and a last-resort
OpenAI-shaped 500 for anything unexpected (logged with the request id)."""

from __future__ import annotations

import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.errors import AgentdeckError
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "agentdeck.request_id"
REQUEST_ID_HEADER = b"x-agentdeck-request-id"


class RequestContextMiddleware:
    """Adds `x-agentdeck-request-id` and records `agentdeck_http_*` metrics for every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_paths: frozenset[str]) -> None:
        self._app = app
        self._metrics = metrics
        self._known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one request."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
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

        try:
            await self._app(scope, receive, send_with_id)
        except Exception:
            # Recorded here with its request id; the client gets a 500 naming that id.
            log.exception("unhandled error in request %s", request_id)
            if status == 0:
                error = AgentdeckError(f"internal error; quote request id {request_id}")
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": error.to_json()})
            status = status or 500
        finally:
            path = scope["path"]
            route = path if path in self._known_paths else "other"
            self._metrics.http_requests.labels(route, scope["method"], str(status)).inc()
            self._metrics.http_latency.labels(route).observe(time.perf_counter() - started)
