"""Gateway administration over HTTP: kill switches and circuit-breaker states.

Guarded by a bearer token named by `server.admin_token_env` until roles and keys take over
this API (identity); without it configured the admin API answers 403.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdeck.errors import (
    AgentdeckError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    http_status,
)
from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.gateway.switches import Switchboard

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class GatewayAdminRoutes:
    """`/api/v1/gateway/switches` and `/api/v1/gateway/breakers`."""

    def __init__(
        self,
        catalog: ModelCatalog,
        switches: Switchboard,
        breakers: BreakerBoard,
        admin_token: str | None,
    ) -> None:
        self._catalog = catalog
        self._switches = switches
        self._breakers = breakers
        self._token = admin_token

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [
            Route("/api/v1/gateway/switches", self._guard(self.list_switches), methods=["GET"]),
            Route(
                "/api/v1/gateway/switches/{kind}/{name:path}",
                self._guard(self.set_switch),
                methods=["PUT"],
            ),
            Route("/api/v1/gateway/breakers", self._guard(self.breakers), methods=["GET"]),
        ]

    def _guard(self, handler: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            try:
                self._authorize(request)
                return await handler(request)
            except AgentdeckError as error:
                return Response(error.to_json(), status_code=http_status(error),
                                media_type="application/json")  # fmt: skip

        guarded.__doc__ = handler.__doc__
        return guarded

    def _authorize(self, request: Request) -> None:
        if self._token is None:
            raise PermissionDeniedError(
                "the admin API is off: set server.admin_token_env to the name of an "
                "environment variable holding its bearer token"
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given, self._token):
            raise AuthenticationError("admin API: missing or wrong bearer token")

    async def list_switches(self, request: Request) -> Response:
        """GET: everything switched off."""
        return _json({"off": self._switches.off()})

    async def set_switch(self, request: Request) -> Response:
        """PUT {"off": true|false}: switch an alias or deployment off or on, on every replica."""
        kind, name = request.path_params["kind"], request.path_params["name"]
        if kind not in ("alias", "deployment"):
            raise InvalidRequestError("kind must be 'alias' or 'deployment'", param="kind")
        known = (
            {a.name for a in self._catalog.aliases()}
            if kind == "alias"
            else set(self._catalog.deployment_ids())
        )
        if name not in known:
            raise NotFoundError(f"no {kind} named {name!r}")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError('body must be JSON: {"off": true}', param="body") from exc
        if not isinstance(body, dict) or not isinstance(body.get("off"), bool):
            raise InvalidRequestError("'off' must be true or false", param="off")
        await self._switches.set(kind, name, body["off"])
        return _json({"kind": kind, "name": name, "off": body["off"]})

    async def breakers(self, request: Request) -> Response:
        """GET: every deployment's breaker state."""
        states = {d: self._breakers.state(d).name.lower() for d in self._catalog.deployment_ids()}
        return _json({"breakers": states})
