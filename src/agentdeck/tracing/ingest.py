"""`POST /v1/traces`: OTLP/HTTP trace ingest, authenticated by an agentdeck key.

Spans land in the caller's tenant and project, normalized to agentdeck's columns
(`tracing.conventions`), with content kept or removed by the project's policy, and are queued
for the span recorder. A queue too full for the whole request answers 503 with `Retry-After`
and keeps nothing, so an exporter's retry neither loses nor doubles spans. Responses use the
request's format: an `ExportTraceServiceResponse`, or a `google.rpc.Status` on failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdeck.errors import (
    AgentdeckError,
    PermissionDeniedError,
    ServiceUnavailableError,
    http_status,
)
from agentdeck.gateway.admission import request_headers
from agentdeck.gateway.call_spans import hashed_user
from agentdeck.gateway.http import Handler, RawRoute, header, read_body
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.grants import Grant
from agentdeck.request_context import REQUEST_ID_KEY
from agentdeck.settings_tracing import TracingSettings
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.conventions import Origin, resource_attributes, to_span
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.otlp import JSON, PROTOBUF, Export, decode, inflate, media_type, success
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# Spans normalized between two turns of the event loop. A request of a thousand spans held the
# loop for tens of milliseconds, and each round trip of the span writer waited behind every
# request ready meanwhile: the writes, not the CPU, set the pace (docs/performance.md).
SPANS_PER_TURN = 100
# google.rpc.Code for the statuses this endpoint answers.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}
Price = Callable[[str, int, int], int | None]
# End users seen lately, by tenant, with their hashed ids: a user sends many spans, and hashing
# one (SHA-256) cost as much as a tenth of the rest of reading a span. Cleared when full.
_HASHED_USERS_MAX = 8192


class OtlpIngest:
    """The OTLP/HTTP traces endpoint."""

    def __init__(
        self,
        authenticator: Authenticator,
        recorder: SpanRecorder,
        settings: TracingSettings,
        price: Price,
        metrics: Metrics,
        max_body_bytes: int,
        content: ContentPolicies,
    ) -> None:
        self._authenticator = authenticator
        self._recorder = recorder
        self._settings = settings
        self._price = price
        self._metrics = metrics
        self._limit = max_body_bytes
        self._raw_users = frozenset(settings.raw_user_id_projects)
        self._policies = content
        self._hashed_users: dict[tuple[str, str], str] = {}

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> handler, for the front door's direct dispatch."""
        return {("POST", "/v1/traces"): self.traces}

    def routes(self) -> list[Route]:
        """The same handler as a Starlette route (for 405s and the route list)."""
        return [Route("/v1/traces", RawRoute(self.traces), methods=["POST"])]

    def origin(self, grant: Grant) -> Origin:
        """How spans sent with `grant` are attributed, hashed and captured."""
        tenant = grant.tenant_id
        raw = grant.project_id in self._raw_users
        return Origin(
            tenant_id=tenant,
            project_id=grant.project_id,
            hash_user=None if raw else lambda user: self._hashed_user(tenant, user),
            content=self._policies.of(grant.project_id),
            price=self._price,
        )

    def _hashed_user(self, tenant: str, user: str) -> str:
        known = self._hashed_users.get((tenant, user))
        if known is None:
            if len(self._hashed_users) >= _HASHED_USERS_MAX:
                self._hashed_users.clear()
            known = self._hashed_users[tenant, user] = hashed_user(tenant, user)
        return known

    async def traces(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/traces."""
        kind = PROTOBUF
        try:
            kind = media_type(_text(header(scope, b"content-type")))
            grant = await self._authenticator.authenticate(
                request_headers(scope), scope.get(REQUEST_ID_KEY)
            )
            if not grant.access.allows("traces:write"):
                raise PermissionDeniedError(
                    f"{grant.actor} may not send spans (needs traces:write)"
                )
            body = await read_body(scope, receive, self._limit)
            plain = inflate(
                body, _text(header(scope, b"content-encoding")), self._settings.max_ingest_bytes
            )
            export = decode(plain, kind)
            spans = await _normalized(export, self.origin(grant))
            if spans and not self._recorder.record_all(spans):
                self._metrics.otlp_spans.labels("refused").inc(len(spans))
                raise ServiceUnavailableError(
                    f"the span queue is full; {len(spans)} spans not accepted, retry later",
                    headers={"retry-after": str(RETRY_AFTER_S)},
                )
            self._metrics.otlp_spans.labels("accepted").inc(len(spans))
            if export.rejected:
                self._metrics.otlp_spans.labels("rejected").inc(export.rejected)
            await _send(send, 200, kind, success(kind, export))
        except AgentdeckError as error:
            status = http_status(error)
            await _send(send, status, kind, _status_body(kind, status, error), error.headers)


async def _normalized(export: Export, origin: Origin) -> list[Span]:
    """The stored spans of a decoded request, giving the event loop a turn every
    `SPANS_PER_TURN` spans."""
    spans: list[Span] = []
    for group in export.resources:
        kept = resource_attributes(group.resource)
        received = group.spans
        for start in range(0, len(received), SPANS_PER_TURN):
            if spans:
                await asyncio.sleep(0)
            chunk = received[start : start + SPANS_PER_TURN]
            spans.extend(to_span(span, group.resource, origin, kept) for span in chunk)
    return spans


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None


def _status_body(kind: str, status: int, error: AgentdeckError) -> bytes:
    """A `google.rpc.Status` in the request's format (OTLP/HTTP failure responses)."""
    code = _RPC_CODES.get(status, 2)
    if kind == JSON:
        return orjson.dumps({"code": code, "message": error.message, **error.to_dict()})
    message = error.message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(message)) + message


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


async def _send(
    send: Send, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend((k.encode(), v.encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
