"""Export to an external collector against a real server: agentdeck forwards the span of a
gateway call made with the `openai` SDK and a span an application sent to `/v1/traces` with
the OpenTelemetry SDK's exporter to a loopback OTLP collector; both arrive in one trace with
their GenAI attributes. A server stopped before its batches were due still forwards them."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.integration._http_stub import BackgroundServer, JSONHandler
from tests.integration._stack import FAKE_MODELS, Stack
from tests.integration._support import (
    Metrics,
    ServerProcess,
    deployment,
    expected_cost_micros,
    start_gateway,
)

ASK = [{"role": "user", "content": "plan the trip"}]


class _Received:
    """What the collector received: (headers, resource attributes, span) per span."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[tuple[dict[str, str], dict[str, Any], Any]] = []

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[dict[str, str], Any]]:
        """(resource attributes, span) of every span, once `count` arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [(resource, span) for _, resource, span in self.spans]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return None if kind is None else getattr(any_value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _collector(received: _Received) -> type[JSONHandler]:
    class Collector(JSONHandler):
        """An OTLP/HTTP traces endpoint that decodes every export and keeps its spans."""

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            with received.lock:
                for resource in request.resource_spans:
                    attributes = _attributes(resource.resource.attributes)
                    for scope in resource.scope_spans:
                        received.spans += [
                            (dict(self.headers), attributes, span) for span in scope.spans
                        ]
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Collector


@pytest.fixture
def collector() -> Iterator[tuple[BackgroundServer, _Received]]:
    received = _Received()
    server = BackgroundServer(_collector(received)).start()
    yield server, received
    server.stop()


def _exporting_server(
    stack: Stack, workdir: Path, collector_port: int, interval_s: float
) -> ServerProcess:
    config = {
        "tracing": {
            "flush_interval_s": interval_s,
            "export": {
                "enabled": True,
                "endpoint": f"http://127.0.0.1:{collector_port}",
                "headers": {"x-tenant": "acme"},
                "flush_interval_s": interval_s,
            },
        },
        "models": {"chat": deployment(stack.upstream, "fake", "1", "2")},
        "fake_models": FAKE_MODELS,
    }
    server = start_gateway(workdir, config, name="export")
    server.wait_ready()
    return server


def test_gateway_and_application_spans_reach_the_collector_in_one_trace(
    stack: Stack, workdir: Path, collector: tuple[BackgroundServer, _Received]
) -> None:
    listener, received = collector
    server = _exporting_server(stack, workdir, listener.port, 0.05)
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
        exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("trip-planner")
        with tracer.start_as_current_span("plan step") as step:
            headers: dict[str, str] = {}
            propagate.inject(headers)  # the gateway's span joins the application's trace
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as sdk:
                reply = sdk.chat.completions.create(
                    model="chat", messages=ASK, extra_headers=headers
                )
            assert reply.usage is not None
            step.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "chat",
                "gen_ai.usage.input_tokens": reply.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": reply.usage.completion_tokens,
            })  # fmt: skip
            trace_id = format(step.get_span_context().trace_id, "032x")
            step_id = format(step.get_span_context().span_id, "016x")
        provider.shutdown()

        arrived = received.wait_for(2)
        metrics = Metrics.scrape(server.url)
    finally:
        server.stop()

    assert len(arrived) == 2, arrived
    by_service = {resource["service.name"]: (resource, span) for resource, span in arrived}
    app_resource, app_span = by_service["trip-planner"]
    gateway_resource, gateway_span = by_service["agentdeck"]
    assert app_span.trace_id.hex() == gateway_span.trace_id.hex() == trace_id
    assert app_span.span_id.hex() == step_id
    assert gateway_span.parent_span_id.hex() == step_id
    assert app_span.parent_span_id == b""
    assert app_resource["agentdeck.tenant.id"] == gateway_resource["agentdeck.tenant.id"]
    with received.lock:
        assert all(headers.get("x-tenant") == "acme" for headers, _, _ in received.spans)

    cost = expected_cost_micros(reply.usage.prompt_tokens, reply.usage.completion_tokens, "1", "2")
    gateway = _attributes(gateway_span.attributes)
    assert gateway_span.name == "chat chat"
    assert gateway["gen_ai.operation.name"] == "chat"
    assert gateway["gen_ai.request.model"] == "chat"
    assert gateway["gen_ai.response.model"] == reply.model
    assert gateway["gen_ai.provider.name"] == "openai"
    assert gateway["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert gateway["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert gateway["agentdeck.cost_micros"] == cost
    assert gateway["agentdeck.source"] == "gateway"

    app = _attributes(app_span.attributes)
    assert app_span.name == "plan step"
    assert app["gen_ai.request.model"] == "chat"
    assert app["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert app["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert app["agentdeck.cost_micros"] == cost  # priced by agentdeck at the alias's price
    assert app["agentdeck.source"] == "otlp"
    assert app["otel.scope.name"] == "trip-planner"

    assert metrics.value("agentdeck_otlp_export_spans_total", outcome="sent") == 2
    assert metrics.value("agentdeck_otlp_export_spans_total", outcome="failed") == 0


def test_a_stopping_server_forwards_what_it_had_not_sent_yet(
    stack: Stack, workdir: Path, collector: tuple[BackgroundServer, _Received]
) -> None:
    listener, received = collector
    # Batches are due only after 30 s: the spans leave when the server stops.
    server = _exporting_server(stack, workdir, listener.port, 30)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as sdk:
            replies = [sdk.chat.completions.create(model="chat", messages=ASK) for _ in range(3)]
        answer = httpx.get(f"{server.url}/metrics", timeout=5)
        assert 'agentdeck_otlp_export_spans_total{outcome="sent"}' not in answer.text
        assert received.wait_for(1, timeout=0.5) == []
    finally:
        assert server.stop() == 0

    arrived = received.wait_for(3, timeout=5)
    assert len(arrived) == 3
    sent = sorted(_attributes(span.attributes)["agentdeck.request_id"] for _, span in arrived)
    assert len(set(sent)) == 3
    assert {_attributes(span.attributes)["gen_ai.response.model"] for _, span in arrived} == {
        reply.model for reply in replies
    }
