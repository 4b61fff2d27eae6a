"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdeck.db import ping
from agentdeck.kv import KV
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)
_CHECK_TIMEOUT_S = 2.0


@dataclass
class Runtime:
    """What the lifespan opened: filled at start-up, read by the health checks."""

    engine: AsyncEngine | None = None
    kv: KV | None = None
    installation_id: str | None = None
    schema_revision: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Parts shown by /readyz that do not decide readiness (MCP upstreams, which are third
    # parties: one being down must not take the replica out of service).
    informational: dict[str, Callable[[], Any]] = field(default_factory=dict)


class HealthRoutes:
    """`/healthz`, `/readyz` and `/metrics`."""

    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        self._runtime = runtime
        self._metrics = metrics

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        """Alive: the process answers."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        """Ready: the SQL store and the kv backend both answer within two seconds."""
        store, kv = await asyncio.gather(self._check_store(), self._check_kv())
        ready = store == "ok" and kv == "ok"
        body = {
            "status": "ready" if ready else "not_ready",
            "store": store,
            "kv": kv,
            "kv_backend": self._runtime.kv.backend if self._runtime.kv is not None else None,
            "schema_revision": self._runtime.schema_revision,
            "installation_id": self._runtime.installation_id,
        }
        for name, read in self._runtime.informational.items():
            try:
                body[name] = read()
            except Exception as exc:  # noqa: BLE001 - informational: never fails the probe
                log.warning("readiness: %s could not be read: %s", name, exc)
                body[name] = f"error: {type(exc).__name__}"
        return Response(
            orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json"
        )

    async def _check_store(self) -> str:
        if self._runtime.engine is None:
            return "not started"
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                await ping(self._runtime.engine)
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any driver failure means not ready; reported
            log.warning("readiness: store check failed: %s", exc)
            return f"error: {type(exc).__name__}"
        return "ok"

    async def _check_kv(self) -> str:
        if self._runtime.kv is None:
            return "not started"
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                ok = await self._runtime.kv.ping()
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any client failure means not ready; reported
            log.warning("readiness: kv check failed: %s", exc)
            return f"error: {type(exc).__name__}"
        return "ok" if ok else "error: no answer"

    async def metrics(self, request: Request) -> Response:
        """Prometheus text exposition."""
        return Response(
            self._metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )
