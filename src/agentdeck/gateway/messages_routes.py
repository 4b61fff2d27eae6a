"""Anthropic-compatible `POST /v1/messages`: any provider behind the Anthropic wire format.

Errors answer in the Anthropic shape ({"type": "error", "error": {"type", "message"}}) with the
same statuses as the OpenAI routes.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdeck.errors import AgentdeckError, http_status
from agentdeck.gateway.formats.anthropic_in import request_to_openai, response_to_anthropic
from agentdeck.gateway.formats.anthropic_stream import AnthropicStreamEncoder, error_body
from agentdeck.gateway.http import EventStreamResponse, json_bytes, read_body
from agentdeck.gateway.models import CallRecord
from agentdeck.gateway.routes import call_headers
from agentdeck.gateway.service import GatewayService
from agentdeck.gateway.tokens import count_messages
from agentdeck.gateway.validation import check_chat_request, parse_json_object
from agentdeck.request_context import REQUEST_ID_KEY


class MessagesRoutes:
    """The Anthropic Messages endpoint over the shared gateway pipeline."""

    def __init__(self, service: GatewayService, max_body_bytes: int) -> None:
        self._service = service
        self._limit = max_body_bytes

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [Route("/v1/messages", self.messages, methods=["POST"])]

    async def messages(self, request: Request) -> Response:
        """POST /v1/messages, whole or streamed."""
        try:
            return await self._messages(request)
        except AgentdeckError as error:
            return json_bytes(
                error_body(error), status=http_status(error), headers=error.headers or None
            )

    async def _messages(self, request: Request) -> Response:
        body = request_to_openai(parse_json_object(await read_body(request, self._limit)))
        model, stream = check_chat_request(body)
        request_id = request.scope[REQUEST_ID_KEY]
        record = CallRecord(request_id=request_id, alias=model)
        if stream:
            encoder = AnthropicStreamEncoder(
                model, "msg_" + request_id.removeprefix("req_"), count_messages(body["messages"])
            )
            relay = await self._service.open_stream(body, record, encoder)
            return EventStreamResponse(
                relay, headers={"x-agentdeck-deployment": record.deployment_id}
            )
        reply = await self._service.chat(body, record)
        answer = response_to_anthropic(orjson.loads(reply.body), reply.model)
        return json_bytes(orjson.dumps(answer), headers=call_headers(record))
