"""`create_app(settings)`: builds the services, opens the store and kv in the lifespan, mounts
the routes. Holds no globals: two apps in one process share nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from agentdeck.api.app import create_api
from agentdeck.api.deps import ApiServices
from agentdeck.db import migrate
from agentdeck.db.engine import create_engine, wait_until_reachable
from agentdeck.db.instance import ensure_installation_id
from agentdeck.errors import AgentdeckError, MethodNotAllowedError, NotFoundError, http_status
from agentdeck.gateway.admission import GatewayGuard
from agentdeck.gateway.breaker import BreakerBoard
from agentdeck.gateway.cache import ResponseCache
from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.gateway.dispatch import Dispatcher
from agentdeck.gateway.messages_routes import MessagesRoutes
from agentdeck.gateway.prompting import PromptReferences
from agentdeck.gateway.router import Router
from agentdeck.gateway.routes import GatewayRoutes
from agentdeck.gateway.service import GatewayService
from agentdeck.gateway.shadow import ShadowRunner
from agentdeck.gateway.switches import Switchboard
from agentdeck.guardrails.pii import redactor
from agentdeck.guardrails.service import Guardrails
from agentdeck.health import HealthRoutes, Runtime
from agentdeck.identity.services import IdentityServices
from agentdeck.identity.vault import Vault
from agentdeck.kv import KV, create_kv
from agentdeck.limits.service import RateLimiter
from agentdeck.mcp.gateway import McpGateway
from agentdeck.prompts.resolver import PromptResolver
from agentdeck.prompts.service import PromptRegistry
from agentdeck.request_context import RequestContextMiddleware
from agentdeck.settings import Settings
from agentdeck.tools.approvals import Approvals
from agentdeck.tools.cache import ToolSpecs
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.service import ToolRegistry
from agentdeck.tools.spans import ToolSpans
from agentdeck.tracing.alerts.history import AlertHistory
from agentdeck.tracing.alerts.store import AlertStore
from agentdeck.tracing.alerts.webhooks import WebhookDeliverer
from agentdeck.tracing.alerts.worker import AlertWorker
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.export import SpanExporter
from agentdeck.tracing.exporters import create_exporter
from agentdeck.tracing.ingest import OtlpIngest
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.queries import TraceQueries
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.retention import RetentionJob

log = logging.getLogger(__name__)


def _json(body: bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _agentdeck_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentdeckError)
    return _json(exc.to_json(), http_status(exc), exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: AgentdeckError
    if exc.status_code == 405:
        error = MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 404:
        error = NotFoundError(f"no route {request.method} {request.url.path}")
    else:
        error = AgentdeckError(str(exc.detail))
        return _json(error.to_json(), exc.status_code)
    return _json(error.to_json(), error.status, dict(exc.headers or {}))


async def _in_order(*steps: Callable[[], Awaitable[None]]) -> None:
    """Run the start or shutdown steps one after another."""
    for step in steps:
        await step()


def _gateway_routes(
    gateway: GatewayService,
    guard: GatewayGuard,
    settings: Settings,
    guardrails: Guardrails,
    references: PromptReferences,
) -> tuple[GatewayRoutes, MessagesRoutes]:
    """The OpenAI- and Anthropic-compatible routes over one gateway pipeline."""
    limit = settings.server.max_body_bytes
    return (
        GatewayRoutes(gateway, guard, limit, guardrails, references),
        MessagesRoutes(gateway, guard, limit, guardrails, references),
    )


def _guardrails(settings: Settings, metrics: Metrics) -> Guardrails:
    """The configured guardrails, their verdicts counted in the metrics."""
    verdicts = metrics.guardrail_verdicts
    return Guardrails(
        settings.guardrails,
        lambda name, stage, action: verdicts.labels(name, stage, action).inc(),
    )


def _span_recording(
    engine: AsyncEngine, settings: Settings, metrics: Metrics
) -> tuple[SpanExporter | None, SpanRecorder]:
    """The span recorder, and the exporter its stored spans go to when export is on."""
    exporter = (
        create_exporter(settings.tracing.export, metrics)
        if settings.tracing.export.enabled
        else None
    )
    recorder = SpanRecorder(
        engine, settings.tracing.queue_max, settings.tracing.batch,
        settings.tracing.flush_interval_s, metrics.dropped.labels("spans").inc,
        exporter.offer if exporter is not None else None,
    )  # fmt: skip
    return exporter, recorder


def _alerting(
    engine: AsyncEngine, vault: Vault, settings: Settings, metrics: Metrics
) -> tuple[AlertStore, AlertWorker]:
    """The alert store and this replica's alert worker (evaluation and webhook delivery)."""
    alert_store = AlertStore(engine, vault)
    return alert_store, AlertWorker(
        engine, settings.alerts,
        WebhookDeliverer(
            engine, alert_store, settings.alerts,
            lambda outcome: metrics.alert_deliveries.labels(outcome).inc(),
        ),
        lambda outcome: metrics.alert_evaluations.labels(outcome).inc(),
    )  # fmt: skip


def _tools(
    engine: AsyncEngine,
    kv: KV,
    settings: Settings,
    identity: IdentityServices,
    recorder: SpanRecorder,
    content: ContentPolicies,
    metrics: Metrics,
) -> tuple[ToolRegistry, ToolSpecs, Approvals, ToolExecutor]:
    """The tool registry, its specs served from memory, approvals, and the executor every
    tool call goes through."""
    tools = ToolRegistry(engine, kv)
    specs = ToolSpecs(tools, kv)
    approvals = Approvals(engine, settings.tools.approval_ttl_s)
    spans = ToolSpans(recorder, content) if settings.tracing.enabled else None
    executor = ToolExecutor(
        settings.tools, specs, approvals, identity.vault, spans, identity.audit, metrics
    )
    return tools, specs, approvals, executor


def _mcp_gateway(
    settings: Settings,
    engine: AsyncEngine,
    identity: IdentityServices,
    executor: ToolExecutor,
    specs: ToolSpecs,
    metrics: Metrics,
    runtime: Runtime,
) -> McpGateway:
    """The MCP gateway, its upstreams' gauges on /metrics and their statuses on /readyz."""
    mcp = McpGateway(settings, engine, identity.vault, identity.authenticator, executor, specs,
                     metrics, identity.audit)  # fmt: skip
    if settings.mcp.upstreams:
        runtime.informational["mcp_upstreams"] = mcp.readiness
    return mcp


def create_app(settings: Settings) -> Starlette:
    """The agentdeck ASGI application for `settings`."""
    metrics = Metrics()
    runtime = Runtime()
    engine = create_engine(settings.database)  # no I/O until the lifespan
    kv = create_kv(settings.kv)  # no I/O until first use: the lifespan checks it
    identity = IdentityServices(settings, engine, kv, metrics)
    prompts = PromptRegistry(engine, kv)
    prompt_resolver = PromptResolver(prompts, kv)  # prompt references, served from memory
    catalog = ModelCatalog(settings, identity.platform_credentials.get)
    breakers = BreakerBoard(settings.gateway.breaker, kv, metrics)
    switches = Switchboard(kv)
    router = Router(breakers, is_off=switches.deployment_off)
    dispatcher = Dispatcher(
        catalog, router, breakers, metrics, settings.gateway, is_off=switches.alias_off
    )
    cache = ResponseCache(kv, settings.gateway.cache)
    shadow = ShadowRunner(metrics)
    gateway = GatewayService(
        catalog, dispatcher, router, breakers, metrics, cache, shadow,
        settings.gateway.cache.enabled,
    )  # fmt: skip
    exporter, recorder = _span_recording(engine, settings, metrics)
    content = ContentPolicies(settings.tracing.content, redactor)
    guard = GatewayGuard(
        identity.authenticator, RateLimiter(kv), identity.ledger, identity.spend, identity.audit,
        catalog, settings.limits.default_max_output_tokens,
        recorder if settings.tracing.enabled else None,
        frozenset(settings.tracing.raw_user_id_projects),
        content,
    )  # fmt: skip
    guardrails = _guardrails(settings, metrics)
    tools, tool_specs, approvals, tool_executor = _tools(
        engine, kv, settings, identity, recorder, content, metrics
    )
    mcp = _mcp_gateway(settings, engine, identity, tool_executor, tool_specs, metrics, runtime)
    openai_routes, messages_routes = _gateway_routes(
        gateway, guard, settings, guardrails, PromptReferences(prompt_resolver)
    )
    ingest = OtlpIngest(
        identity.authenticator, recorder, settings.tracing, catalog.price, metrics,
        settings.server.max_body_bytes, content,
    )  # fmt: skip
    retention = RetentionJob(engine, settings.tracing.retention)
    alert_store, alerts = _alerting(engine, identity.vault, settings, metrics)
    fast_routes = {**openai_routes.handlers(), **messages_routes.handlers(), **ingest.handlers()}
    api = create_api(
        ApiServices(
            identity.authenticator,
            identity.audit,
            identity.directory,
            engine,
            identity.access,
            identity.vault,
            identity.ledger,
            catalog,
            switches,
            breakers,
            settings.identity.platform_tenant,
            TraceQueries(engine),
            alert_store,
            AlertHistory(engine),
            alerts.deliverer,
            prompts=prompts,
            prompt_resolver=prompt_resolver,
            tools=tools,
            tool_executor=tool_executor,
            approvals=approvals,
            wake_alerts=alerts.wake if settings.alerts.enabled else None,
            raw_user_id_projects=frozenset(settings.tracing.raw_user_id_projects),
        )
    )
    routes = [
        *openai_routes.routes(),
        *messages_routes.routes(),
        *ingest.routes(),
        *HealthRoutes(runtime, metrics).routes(),
        *mcp.routes(),
        Mount("/api", app=api),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await wait_until_reachable(engine, settings.database.connect_attempts)
            if settings.database.migrate_on_start:
                runtime.schema_revision = await migrate(engine)
            runtime.installation_id = await ensure_installation_id(engine)
            guardrails.start(runtime.installation_id)
            runtime.engine, runtime.kv = engine, kv
            await breakers.start(catalog.deployment_ids())
            # MCP upstreams connect in the background: a down one does not hold the start up
            await _in_order(
                switches.start, identity.start, mcp.start, prompt_resolver.start, tool_specs.start
            )
            if exporter is not None:
                await exporter.start()
            await recorder.start()
            await retention.start()
            await alerts.start()
            log.info("agentdeck ready: store %s, kv %s", engine.dialect.name, kv.backend)
            yield
        finally:
            await _in_order(
                shadow.drain,
                mcp.stop,
                tool_executor.aclose,
                guardrails.aclose,
                alerts.stop,
                retention.stop,
                recorder.stop,  # every span of a finished call is written
                *([exporter.stop] if exporter is not None else []),  # ... and forwarded
                prompt_resolver.stop,
                tool_specs.stop,
                identity.stop,
                switches.stop,
                breakers.stop,
                catalog.aclose,
                kv.aclose,
                engine.dispose,
            )

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestContextMiddleware,
                metrics=metrics,
                known_paths=frozenset(getattr(route, "path", "") for route in routes),
                fast_routes=fast_routes,
            )
        ],
        exception_handlers={AgentdeckError: _agentdeck_error, HTTPException: _http_error},
    )
