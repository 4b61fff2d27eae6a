"""Anthropic-compatible `POST /v1/messages`: any provider behind the Anthropic wire format.

Errors answer in the Anthropic shape ({"type": "error", "error": {"type", "message"}}) with the
same statuses as the OpenAI routes.
"""

from __future__ import annotations

import orjson
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdeck.errors import AgentdeckError
from agentdeck.gateway.admission import GatewayGuard, Ticket
from agentdeck.gateway.formats.anthropic_in import request_to_openai, response_to_anthropic
from agentdeck.gateway.formats.anthropic_stream import AnthropicStreamEncoder, error_body
from agentdeck.gateway.guarding import guard_answer, guard_request
from agentdeck.gateway.http import (
    EventStreamResponse,
    Handler,
    RawRoute,
    read_body,
    send_error,
    send_json,
)
from agentdeck.gateway.models import CallRecord
from agentdeck.gateway.prompting import PromptReferences
from agentdeck.gateway.routes import call_headers, failed, new_record, route_headers
from agentdeck.gateway.service import GatewayService
from agentdeck.gateway.tokens import count_messages
from agentdeck.gateway.validation import check_chat_request, parse_json_object
from agentdeck.guardrails.service import Guardrails
from agentdeck.request_context import REQUEST_ID_KEY


class MessagesRoutes:
    """The Anthropic Messages endpoint over the shared gateway pipeline."""

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
        return {("POST", "/v1/messages"): self.messages}

    def routes(self) -> list[Route]:
        """The same handler as a Starlette route (for 405s and the route list)."""
        return [Route("/v1/messages", RawRoute(self.messages), methods=["POST"])]

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/messages, whole or streamed."""
        record: CallRecord | None = None
        ticket: Ticket | None = None
        try:
            try:
                raw = await read_body(scope, receive, self._limit)
                request_id = scope[REQUEST_ID_KEY]
                given = parse_json_object(raw)
                used = None
                if self._prompts is not None:
                    used = await self._prompts.expand_anthropic(
                        scope, given, lambda: self._guard.caller(scope, request_id)
                    )
                body = request_to_openai(given)
                model, stream = check_chat_request(body)
                record = new_record(scope, model, body, stream=stream, prompt=used)
                ticket = await self._guard.admit(scope, body, record, len(raw))
                await guard_request(self._guardrails, body, record, ticket.grant, "messages")
                if stream:
                    encoder = AnthropicStreamEncoder(
                        model,
                        "msg_" + request_id.removeprefix("req_"),
                        count_messages(body["messages"]),
                    )
                    relay = await self._service.open_stream(body, record, encoder)
                else:
                    reply = await self._service.chat(body, record)
                    checked = await guard_answer(record, reply.body)
                    answer = orjson.dumps(response_to_anthropic(orjson.loads(checked), reply.model))
            except AgentdeckError as error:
                await send_error(send, error, error_body, failed(record, error))
                return
            if stream:
                await EventStreamResponse(relay, route_headers(record))(scope, receive, send)
            else:
                await send_json(send, 200, answer, call_headers(record))
        finally:
            if ticket is not None and record is not None:
                await ticket.finish(record)
