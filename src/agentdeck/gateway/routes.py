"""OpenAI-compatible HTTP routes: /v1/chat/completions, /v1/embeddings, /v1/models."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdeck.gateway.http import EventStreamResponse, json_bytes, read_body
from agentdeck.gateway.models import CallRecord
from agentdeck.gateway.service import GatewayService
from agentdeck.gateway.validation import (
    check_chat_request,
    check_embeddings_request,
    parse_json_object,
)
from agentdeck.request_context import REQUEST_ID_KEY


class GatewayRoutes:
    """Handlers bound to one `GatewayService` and body size limit."""

    def __init__(self, service: GatewayService, max_body_bytes: int) -> None:
        self._service = service
        self._limit = max_body_bytes

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ]

    async def chat_completions(self, request: Request) -> Response:
        """POST /v1/chat/completions: whole or streamed (SSE)."""
        body = parse_json_object(await read_body(request, self._limit))
        model, stream = check_chat_request(body)
        record = CallRecord(request_id=request.scope[REQUEST_ID_KEY], alias=model)
        if stream:
            relay = await self._service.open_stream(body, record)
            return EventStreamResponse(
                relay, headers={"x-agentdeck-deployment": record.deployment_id}
            )
        reply = await self._service.chat(body, record)
        return json_bytes(reply.body, headers=call_headers(record))

    async def embeddings(self, request: Request) -> Response:
        """POST /v1/embeddings."""
        body = parse_json_object(await read_body(request, self._limit))
        model = check_embeddings_request(body)
        record = CallRecord(request_id=request.scope[REQUEST_ID_KEY], alias=model)
        reply = await self._service.embed(body, record)
        return json_bytes(reply.body, headers=call_headers(record))

    async def models(self, request: Request) -> Response:
        """GET /v1/models: every alias a client may use."""
        return json_bytes(self._service.models_body())


def call_headers(record: CallRecord) -> dict[str, str]:
    """The x-agentdeck-* headers of a whole answer: deployment, cost, whether usage was counted."""
    return {
        "x-agentdeck-deployment": record.deployment_id,
        "x-agentdeck-cost-micros": str(record.cost_micros),
        "x-agentdeck-usage-counted": "true" if record.usage.counted else "false",
    }
