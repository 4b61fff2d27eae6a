"""The gateway pipeline, free of HTTP: resolve the alias, pick a deployment, call, account.

Identity, limits, guardrails, prompts and tracing join this pipeline as steps around
`_call`; nothing here writes to the database.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from agentdeck.errors import AgentdeckError, UpstreamError
from agentdeck.gateway.catalog import Deployment, ModelCatalog
from agentdeck.gateway.models import JSON, CallRecord, ChatReply, EmbeddingReply, Usage
from agentdeck.gateway.pricing import cost_micros
from agentdeck.gateway.router import Router
from agentdeck.gateway.streaming import (
    OpenAIEncoder,
    StreamEncoder,
    StreamRelay,
    generated_text,
)
from agentdeck.gateway.tokens import count_messages, count_text
from agentdeck.tracing.metrics import Metrics


class GatewayService:
    """Serves chat completions (whole or streamed), embeddings and the model list."""

    def __init__(self, catalog: ModelCatalog, router: Router, metrics: Metrics) -> None:
        self._catalog = catalog
        self._router = router
        self._metrics = metrics
        self._models_body: bytes | None = None

    def _route(self, body: JSON, record: CallRecord) -> Deployment:
        alias = self._catalog.resolve(record.alias)
        deployment = self._router.pick(alias)
        record.deployment_id = deployment.id
        body["model"] = deployment.settings.model
        return deployment

    def _charge(self, record: CallRecord, deployment: Deployment, outcome: str = "ok") -> None:
        """Price the call's usage and count it, whatever the outcome."""
        record.cost_micros = cost_micros(record.usage, deployment.settings)
        m = self._metrics
        m.gateway_calls.labels(record.alias, deployment.id, outcome).inc()
        m.tokens.labels(deployment.id, "input").inc(record.usage.input_tokens)
        m.tokens.labels(deployment.id, "output").inc(record.usage.output_tokens)
        m.cost.labels(deployment.id).inc(record.cost_micros)

    def _failed(self, record: CallRecord, error: AgentdeckError) -> None:
        """Count a call that failed before anything was generated."""
        self._metrics.gateway_calls.labels(record.alias, record.deployment_id, "error").inc()
        self._count_upstream_error(record, error)

    def _count_upstream_error(self, record: CallRecord, error: AgentdeckError) -> None:
        if isinstance(error, UpstreamError):
            self._metrics.upstream_errors.labels(record.deployment_id, error.wire_code).inc()

    async def chat(self, body: JSON, record: CallRecord) -> ChatReply:
        """A whole chat completion; `record` is filled with deployment, usage and cost."""
        deployment = self._route(body, record)
        started = time.perf_counter()
        try:
            reply = await deployment.provider.chat(body)
        except AgentdeckError as error:
            self._failed(record, error)
            raise
        self._metrics.upstream_latency.labels(deployment.id).observe(time.perf_counter() - started)
        if reply.usage.counted:
            reply.usage = _counted_usage(body, reply.body)
        record.usage = reply.usage
        self._charge(record, deployment)
        return reply

    async def open_stream(
        self, body: JSON, record: CallRecord, encoder: StreamEncoder | None = None
    ) -> StreamRelay:
        """Start a streamed completion and wait for its first event.

        Failing before the first event raises, so the client gets a plain HTTP error; after
        it, failures become an error event inside the stream.
        """
        deployment = self._route(body, record)
        options = body.get("stream_options") or {}
        client_wants_usage = options.get("include_usage") is True
        # Always ask for usage: cost is taken from it; the relay hides it if the client did not ask.
        if deployment.settings.stream_usage:
            body["stream_options"] = {**options, "include_usage": True}
        started = time.perf_counter()
        events = aiter(deployment.provider.stream_chat(body))
        try:
            first = await anext(events)
        except StopAsyncIteration:
            error = UpstreamError(f"upstream {deployment.id} sent an empty stream")
            self._failed(record, error)
            raise error from None
        except AgentdeckError as error:
            self._failed(record, error)
            raise
        self._metrics.upstream_latency.labels(deployment.id).observe(time.perf_counter() - started)

        def settle(done: CallRecord, outcome: str, error: AgentdeckError | None) -> None:
            # What was streamed was generated and is paid for, however the stream ended.
            self._metrics.streams_open.dec()
            if error is not None:
                self._count_upstream_error(done, error)
            self._charge(done, deployment, outcome)

        self._metrics.streams_open.inc()
        return StreamRelay(
            first,
            events,
            record,
            prompt_tokens=lambda: count_messages(body.get("messages") or []),
            encoder=encoder or OpenAIEncoder(client_wants_usage),
            on_settle=settle,
        )

    async def embed(self, body: JSON, record: CallRecord) -> EmbeddingReply:
        """Embeddings for the request's input."""
        deployment = self._route(body, record)
        try:
            reply = await deployment.provider.embed(body)
        except AgentdeckError as error:
            self._failed(record, error)
            raise
        record.usage = reply.usage
        self._charge(record, deployment)
        return reply

    def models_body(self) -> bytes:
        """The OpenAI `GET /v1/models` list of every alias (built once: the catalog is fixed)."""
        if self._models_body is None:
            data: list[dict[str, Any]] = [
                {"id": alias.name, "object": "model", "created": 0, "owned_by": alias.owned_by}
                for alias in self._catalog.aliases()
            ]
            self._models_body = orjson.dumps({"object": "list", "data": data})
        return self._models_body


def _counted_usage(body: JSON, raw: bytes) -> Usage:
    """Usage estimated from the request and answer when the upstream reported none."""
    parsed = orjson.loads(raw)
    generated = generated_text(parsed, "message") if isinstance(parsed, dict) else ""
    return Usage(count_messages(body.get("messages") or []), count_text(generated), counted=True)
