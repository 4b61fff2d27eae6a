"""OpenAI-compatible HTTP routes: /v1/chat/completions, /v1/embeddings, /v1/models."""

from __future__ import annotations

import time

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdeck.errors import AgentdeckError
from agentdeck.gateway.admission import GatewayGuard, Ticket
from agentdeck.gateway.guarding import guard_answer, guard_request
from agentdeck.gateway.http import (
    EventStreamResponse,
    Handler,
    RawRoute,
    header,
    read_body,
    send_error,
    send_json,
)
from agentdeck.gateway.models import JSON, CallRecord
from agentdeck.gateway.prompting import PromptReferences, PromptUse
from agentdeck.gateway.service import GatewayService
from agentdeck.gateway.validation import (
    check_chat_request,
    check_embeddings_request,
    parse_json_object,
)
from agentdeck.guardrails.service import Guardrails
from agentdeck.request_context import REQUEST_ID_KEY
from agentdeck.tracing.spans import new_span_id, new_trace_id, parse_traceparent


class GatewayRoutes:
    """Raw ASGI handlers bound to one `GatewayService` and body size limit."""

    def __init__(
        self,
        service: GatewayService,
        guard: GatewayGuard,
        max_body_bytes: int,
        guardrails: Guardrails | None = None,
        prompts: PromptReferences | None = None,
    ) -> None:
        self._service = service
        self._guard = guard
        self._limit = max_body_bytes
        self._guardrails = guardrails
        self._prompts = prompts

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> handler, for the front door's direct dispatch."""
        return {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/v1/embeddings"): self.embeddings,
            ("GET", "/v1/models"): self.models,
        }

    def routes(self) -> list[Route]:
        """The same handlers as Starlette routes (for 405s and the route list)."""
        return [
            Route(path, RawRoute(handler), methods=[method])
            for (method, path), handler in self.handlers().items()
        ]

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/chat/completions: whole or streamed (SSE)."""
        record: CallRecord | None = None
        ticket: Ticket | None = None
        try:
            try:
                raw = await read_body(scope, receive, self._limit)
                body = parse_json_object(raw)
                used = await self._expand(scope, body)
                model, stream = check_chat_request(body)
                record = new_record(scope, model, body, stream=stream, prompt=used)
                ticket = await self._guard.admit(scope, body, record, len(raw))
                await guard_request(self._guardrails, body, record, ticket.grant, "chat")
                if stream:
                    relay = await self._service.open_stream(body, record)
                else:
                    reply = await self._service.chat(body, record)
                    reply.body = await guard_answer(record, reply.body)
            except AgentdeckError as error:
                await send_error(send, error, extra=failed(record, error))
                return
            if stream:
                await EventStreamResponse(relay, route_headers(record))(scope, receive, send)
            else:
                await send_json(send, 200, reply.body, call_headers(record))
        finally:
            if ticket is not None and record is not None:
                await ticket.finish(record)

    async def _expand(self, scope: Scope, body: JSON) -> PromptUse | None:
        """Render the request's prompt reference, when it has one."""
        if self._prompts is None:
            return None
        return await self._prompts.expand(
            scope, body, lambda: self._guard.caller(scope, scope[REQUEST_ID_KEY])
        )

    async def embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/embeddings."""
        record: CallRecord | None = None
        ticket: Ticket | None = None
        try:
            try:
                raw = await read_body(scope, receive, self._limit)
                body = parse_json_object(raw)
                model = check_embeddings_request(body)
                record = new_record(scope, model, body, operation="embeddings")
                ticket = await self._guard.admit(scope, body, record, len(raw), chat=False)
                await guard_request(self._guardrails, body, record, ticket.grant, "embeddings")
                reply = await self._service.embed(body, record)
            except AgentdeckError as error:
                await send_error(send, error, extra=failed(record, error))
                return
            await send_json(send, 200, reply.body, call_headers(record))
        finally:
            if ticket is not None and record is not None:
                await ticket.finish(record)

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /v1/models: every alias the caller may use."""
        try:
            grant = await self._guard.caller(scope, scope[REQUEST_ID_KEY])
        except AgentdeckError as error:
            await send_error(send, error)
            return
        await send_json(send, 200, self._service.models_body(grant.access))


def route_headers(record: CallRecord) -> dict[str, str]:
    """Where the call went: deployment, attempts, the fallback path when there was one, and
    the trace the call's span belongs to."""
    headers = {"x-agentdeck-deployment": record.deployment_id,
               "x-agentdeck-attempts": str(record.attempts),
               "x-agentdeck-trace-id": record.trace_id}  # fmt: skip
    if len(record.path) > 1:
        headers["x-agentdeck-fallback-path"] = ">".join(record.path)
    if record.route is not None:
        headers["x-agentdeck-route"] = record.route
    return headers


def call_headers(record: CallRecord) -> dict[str, str]:
    """The x-agentdeck-* headers of a whole answer: route, cost, whether usage was counted,
    and whether the cache answered."""
    headers = {
        **route_headers(record),
        "x-agentdeck-cost-micros": str(record.cost_micros),
        "x-agentdeck-usage-counted": "true" if record.usage.counted else "false",
    }
    if record.cache is not None:
        headers["x-agentdeck-cache"] = record.cache
    return headers


def new_record(
    scope: Scope,
    model: str,
    body: JSON,
    *,
    stream: bool = False,
    operation: str = "chat",
    prompt: PromptUse | None = None,
) -> CallRecord:
    """The call record of a request: its id, alias, cache bypass, routing tags, and what its
    span needs (trace context, session, end user)."""
    tags = header(scope, b"x-agentdeck-tags")
    context = parse_traceparent(_text(header(scope, b"traceparent")))
    trace_id, parent = context if context is not None else (new_trace_id(), None)
    user = body.get("user")
    if not (isinstance(user, str) and user):
        user = _text(header(scope, b"x-agentdeck-user"))
    return CallRecord(
        scope[REQUEST_ID_KEY],
        model,
        cache_bypass=wants_no_cache(scope),
        tags=tuple(t.strip() for t in tags.decode("latin-1").split(",") if t.strip())
        if tags
        else (),
        requested_model=model,
        operation=operation,
        started_ns=time.time_ns(),
        trace_id=trace_id,
        span_id=new_span_id(),
        parent_span_id=parent,
        session_id=_text(header(scope, b"x-agentdeck-session-id")),
        end_user=user
        if isinstance(user, str) and user
        else _text(header(scope, b"x-agentdeck-user")),
        stream=stream,
        prompt_name=prompt.name if prompt is not None else None,
        prompt_version=prompt.version if prompt is not None else None,
    )


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1")[:256] if value else None


def wants_no_cache(scope: Scope) -> bool:
    """Whether the request carries `x-agentdeck-cache: bypass` (or `no-cache`)."""
    value = header(scope, b"x-agentdeck-cache")
    return value is not None and value.lower() in (b"bypass", b"no-cache")


def failed(record: CallRecord | None, error: AgentdeckError) -> dict[str, str] | None:
    """Note the failure on the record (for its span); the route headers of the error answer,
    when the failure came after dispatch began."""
    if record is None:
        return None
    record.outcome, record.error = "error", f"{error.wire_code}: {error.message}"
    return route_headers(record) if record.attempts else None
