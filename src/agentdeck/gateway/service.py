"""The gateway pipeline, free of HTTP: dispatch the call (deployments, retries, fallbacks),
then account for it: usage, cost, metrics.

Identity, limits, guardrails, prompts and tracing join this pipeline as steps around the
dispatch; nothing here writes to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agentdeck.errors import AgentdeckError, UpstreamError, UpstreamTimeoutError
from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.cache import ResponseCache, cache_key
from agentdeck.gateway.catalog import Deployment, ModelAlias, ModelCatalog
from agentdeck.gateway.dispatch import Dispatcher
from agentdeck.gateway.failures import classify, counts_against_breaker
from agentdeck.gateway.models import (
    JSON,
    CallRecord,
    ChatReply,
    EmbeddingReply,
    StreamEvent,
    Usage,
)
from agentdeck.gateway.pricing import cost_micros
from agentdeck.gateway.router import Router
from agentdeck.gateway.rules import RequestFacts
from agentdeck.gateway.shadow import ShadowRunner
from agentdeck.gateway.streaming import (
    OpenAIEncoder,
    StreamEncoder,
    StreamRelay,
    close_events,
    generated_text,
)
from agentdeck.gateway.tokens import count_messages, count_text
from agentdeck.identity.rbac import Access
from agentdeck.tracing.metrics import Metrics

StreamStart = tuple[StreamEvent, AsyncIterator[StreamEvent]]


class GatewayService:
    """Serves chat completions (whole or streamed), embeddings and the model list."""

    def __init__(
        self,
        catalog: ModelCatalog,
        dispatcher: Dispatcher,
        router: Router,
        breakers: BreakerBoard,
        metrics: Metrics,
        cache: ResponseCache,
        shadow: ShadowRunner,
        cache_by_default: bool = False,
    ) -> None:
        self._catalog = catalog
        self._shadow = shadow
        self._cache = cache
        self._cache_by_default = cache_by_default
        self._dispatcher = dispatcher
        self._router = router
        self._breakers = breakers
        self._metrics = metrics
        self._models_body: bytes | None = None

    def _charge(self, record: CallRecord, deployment: Deployment, outcome: str = "ok") -> None:
        """Price the call's usage and count it, whatever the outcome."""
        record.cost_micros = cost_micros(record.usage, deployment.settings)
        record.outcome, record.provider = outcome, deployment.settings.provider
        record.response_model = record.response_model or deployment.settings.model
        m = self._metrics
        m.gateway_calls.labels(record.alias, deployment.id, outcome).inc()
        m.tokens.labels(deployment.id, "input").inc(record.usage.input_tokens)
        m.tokens.labels(deployment.id, "output").inc(record.usage.output_tokens)
        m.cost.labels(deployment.id).inc(record.cost_micros)

    def _failed(self, record: CallRecord) -> None:
        """Count a call that failed, after every attempt and fallback, before any output."""
        deployment_id = record.deployment_id or "none"
        self._metrics.gateway_calls.labels(record.alias, deployment_id, "error").inc()

    def _upstream_error(self, deployment_id: str, error: AgentdeckError) -> None:
        if isinstance(error, UpstreamError):
            self._metrics.upstream_errors.labels(deployment_id, error.wire_code).inc()

    def _apply_rules(self, body: JSON, record: CallRecord) -> None:
        """When the requested alias routes by rules, serve the request with the alias chosen."""
        rules = self._catalog.resolve(record.alias).rules
        if rules is not None:
            target, rule = rules.choose(RequestFacts(body, record.tags))
            record.route = f"{rule}>{target}"
            record.alias = target

    def _cache_key(self, kind: str, body: JSON, record: CallRecord) -> str | None:
        """The cache key when this call may use the cache; drops the body's `cache` field."""
        asked = body.pop("cache", None)
        spec = self._catalog.resolve(record.alias).spec
        enabled = spec.cache if spec.cache is not None else self._cache_by_default
        if not enabled or asked is False or record.cache_bypass:
            return None
        return cache_key(kind, record.tenant_id, body)

    async def _cached(self, key: str | None, record: CallRecord) -> bytes | None:
        if key is None:
            return None
        answer = await self._cache.get(key)
        record.cache = "hit" if answer is not None else "miss"
        if answer is not None:
            record.deployment_id, record.outcome = "cache", "ok"
            self._metrics.gateway_calls.labels(record.alias, "cache", "cache_hit").inc()
        return answer

    async def _remember(self, key: str | None, record: CallRecord, answer: bytes) -> None:
        if key is not None:
            ttl = self._catalog.resolve(record.alias).spec.cache_ttl_s
            await self._cache.put(key, answer, ttl)

    async def chat(self, body: JSON, record: CallRecord) -> ChatReply:
        """A whole chat completion; `record` is filled with deployment, usage and cost."""
        self._apply_rules(body, record)
        key = self._cache_key("chat", body, record)
        hit = await self._cached(key, record)
        if hit is not None:
            _keep_output(record, hit)
            return ChatReply(hit, Usage(), "")

        async def attempt(deployment: Deployment) -> tuple[Deployment, ChatReply]:
            body["model"] = deployment.settings.model
            started = time.perf_counter()
            try:
                reply = await deployment.provider.chat(body)
            except AgentdeckError as error:
                self._upstream_error(deployment.id, error)
                raise
            self._metrics.upstream_latency.labels(deployment.id).observe(
                time.perf_counter() - started
            )
            return deployment, reply

        try:
            deployment, reply = await self._dispatcher.run(record, attempt)
        except AgentdeckError:
            self._failed(record)
            raise
        if reply.usage.counted:
            reply.usage = _counted_usage(body, reply.body)
        record.usage, record.response_model = reply.usage, reply.model or None
        _keep_output(record, reply.body)
        self._charge(record, deployment)
        await self._remember(key, record, reply.body)
        self._shadow.maybe_mirror(self._catalog.resolve(record.alias), body, record.request_id)
        return reply

    async def open_stream(
        self, body: JSON, record: CallRecord, encoder: StreamEncoder | None = None
    ) -> StreamRelay:
        """Start a streamed completion and wait for its first event.

        Failing before the first event raises (after retries and fallbacks), so the client
        gets a plain HTTP error; after it, failures become an error event inside the stream.
        """
        self._apply_rules(body, record)
        body.pop("cache", None)  # streams are not cached; the field must not go upstream
        options = body.get("stream_options") or {}
        client_wants_usage = options.get("include_usage") is True

        async def attempt(deployment: Deployment) -> tuple[Deployment, float, StreamStart]:
            body["model"] = deployment.settings.model
            # Ask for usage so cost comes from the provider; the relay hides it if not asked.
            body["stream_options"] = (
                {**options, "include_usage": True} if deployment.settings.stream_usage else options
            ) or None
            if body["stream_options"] is None:
                del body["stream_options"]
            started = time.perf_counter()
            try:
                start = await _first_event(deployment)
            except AgentdeckError as error:
                self._upstream_error(deployment.id, error)
                raise
            self._metrics.upstream_latency.labels(deployment.id).observe(
                time.perf_counter() - started
            )
            return deployment, started, start

        async def _first_event(deployment: Deployment) -> StreamStart:
            events = aiter(deployment.provider.stream_chat(body))
            limit = deployment.settings.first_token_timeout_s
            try:
                async with asyncio.timeout(limit):
                    return await anext(events), events
            except TimeoutError:
                await close_events(events)
                raise UpstreamTimeoutError(
                    f"upstream {deployment.id} sent no first event within {limit:g}s"
                ) from None
            except StopAsyncIteration:
                raise UpstreamError(f"upstream {deployment.id} sent an empty stream") from None
            except BaseException:
                await close_events(events)
                raise

        try:
            deployment, started, (first, events) = await self._dispatcher.run(
                record, attempt, held=True
            )
        except AgentdeckError:
            self._failed(record)
            raise
        first_token_s = time.perf_counter() - started
        self._shadow.maybe_mirror(self._catalog.resolve(record.alias), body, record.request_id)

        def settle(done: CallRecord, outcome: str, error: AgentdeckError | None) -> None:
            # What was streamed was generated and is paid for, however the stream ended.
            self._metrics.streams_open.dec()
            self._router.finished(
                deployment, time.perf_counter() - started if error is None else None, first_token_s
            )
            if error is not None:
                done.error = f"{error.wire_code}: {error.message}"
                self._upstream_error(deployment.id, error)
                if counts_against_breaker(classify(error)):
                    self._breakers.record(deployment.id, False)
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
        self._apply_rules(body, record)
        key = self._cache_key("embeddings", body, record)
        hit = await self._cached(key, record)
        if hit is not None:
            return EmbeddingReply(hit, Usage())

        async def attempt(deployment: Deployment) -> tuple[Deployment, EmbeddingReply]:
            body["model"] = deployment.settings.model
            try:
                return deployment, await deployment.provider.embed(body)
            except AgentdeckError as error:
                self._upstream_error(deployment.id, error)
                raise

        try:
            deployment, reply = await self._dispatcher.run(record, attempt)
        except AgentdeckError:
            self._failed(record)
            raise
        record.usage = reply.usage
        self._charge(record, deployment)
        await self._remember(key, record, reply.body)
        return reply

    def models_body(self, access: Access | None = None) -> bytes:
        """The OpenAI `GET /v1/models` list of every alias `access` may use (all when None)."""
        if self._models_body is None:
            self._models_body = self._model_list(self._catalog.aliases())
        if access is None or access.unrestricted("models:use", "models"):
            return self._models_body  # built once, it serves everyone who may use every alias
        aliases = self._catalog.aliases()
        return self._model_list(
            [a for a in aliases if access.allows("models:use", "models", a.name)]
        )

    @staticmethod
    def _model_list(aliases: list[ModelAlias]) -> bytes:
        data: list[dict[str, Any]] = [
            {"id": alias.name, "object": "model", "created": 0, "owned_by": alias.owned_by}
            for alias in aliases
        ]
        return orjson.dumps({"object": "list", "data": data})


def _counted_usage(body: JSON, raw: bytes) -> Usage:
    """Usage estimated from the request and answer when the upstream reported none."""
    parsed = orjson.loads(raw)
    generated = generated_text(parsed, "message") if isinstance(parsed, dict) else ""
    return Usage(count_messages(body.get("messages") or []), count_text(generated), counted=True)


def _keep_output(record: CallRecord, answer: bytes) -> None:
    """The generated text of a whole chat answer, for the span of a project that captures
    content (parsed only then)."""
    if record.content is not None:
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(answer)
            if isinstance(parsed, dict):
                record.content.add_output(generated_text(parsed, key="message"))
