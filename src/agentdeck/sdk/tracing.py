"""`trace`, `configure` and `trace_headers`: see `agentdeck.sdk`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from opentelemetry import propagate
from opentelemetry import trace as otel
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

F = TypeVar("F", bound=Callable[..., Any])
_KINDS = {
    "step": ("internal", None),
    "agent": ("internal", "invoke_agent"),
    "tool": ("internal", "execute_tool"),
    "chain": ("internal", "chain"),
    "retrieval": ("client", "retrieval"),
}
_SPAN_KINDS = {"internal": otel.SpanKind.INTERNAL, "client": otel.SpanKind.CLIENT}
_state: dict[str, TracerProvider] = {}


def configure(
    url: str,
    api_key: str | None = None,
    service_name: str = "app",
    *,
    set_global: bool = True,
    timeout_s: float = 10.0,
) -> TracerProvider:
    """Send spans to the agentdeck server at `url` (its base URL), authenticated by
    `api_key` (a key with `traces:write`). Spans are batched and exported in the background;
    `shutdown()` sends what is left. With `set_global`, this provider becomes OpenTelemetry's
    global one, so instrumentations report to agentdeck too."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else None
    exporter = OTLPSpanExporter(
        endpoint=url.rstrip("/") + "/v1/traces", headers=headers, timeout=timeout_s
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        otel.set_tracer_provider(provider)
    _state["provider"] = provider
    return provider


def shutdown() -> None:
    """Export every span still queued, then stop the exporter."""
    provider = _state.pop("provider", None)
    if provider is not None:
        provider.shutdown()


def _tracer() -> otel.Tracer:
    provider = _state.get("provider")
    if provider is not None:
        return provider.get_tracer("agentdeck.sdk")
    return otel.get_tracer("agentdeck.sdk")  # the global provider (a no-op one if none)


class _Trace:
    """A span as a decorator (sync or async functions) or a context manager."""

    def __init__(self, name: str | None, kind: str, attributes: dict[str, Any]) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, not {kind!r}")
        self._name = name
        self._kind = kind
        self._attributes = attributes

    @contextmanager
    def _span(self, name: str) -> Iterator[otel.Span]:
        span_kind, operation = _KINDS[self._kind]
        attributes = dict(self._attributes)
        if operation is not None:
            attributes.setdefault("gen_ai.operation.name", operation)
        with _tracer().start_as_current_span(
            name, kind=_SPAN_KINDS[span_kind], attributes=attributes
        ) as span:
            yield span

    def __enter__(self) -> otel.Span:
        self._context = self._span(self._name or "step")
        return self._context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    def __call__(self, function: F) -> F:
        # Class.method for methods; a nested function without its "<locals>" path.
        name = self._name or function.__qualname__.rsplit("<locals>.", 1)[-1]
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._span(name):
                    return await function(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._span(name):
                return function(*args, **kwargs)

        return cast(F, run)


def trace(name: str | None = None, kind: str = "step", **attributes: Any) -> _Trace:
    """A span around a function (named after it unless `name` is given) or a `with` block
    (`name` or "step"). `kind`: step, agent (`invoke_agent`), tool (`execute_tool`), chain
    or retrieval. Extra keyword arguments become span attributes. An exception is recorded
    on the span, which ends with status error, and is raised on."""
    return _Trace(name, kind, attributes)


def trace_headers() -> dict[str, str]:
    """Headers that carry the current span to agentdeck's gateway (W3C `traceparent`), so
    the gateway's span of the call nests under it: pass them as the openai or anthropic
    client's `extra_headers`."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers
