"""OTLP ingest against a real server: an application instrumented with the OpenTelemetry SDK
and OpenInference's OpenAI instrumentor calls the gateway with the `openai` SDK; its spans
arrive at `POST /v1/traces` through the SDK's own OTLP/HTTP exporter, and the whole trace
(the application's step, the instrumentor's LLM span, and the gateway's own span nested in
the same trace) reads back through the query API."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.integration._stack import FAKE_MODELS, Stack
from tests.integration._support import (
    ServerProcess,
    chat_usage,
    deployment,
    expected_cost_micros,
    start_gateway,
)

ASK = [{"role": "user", "content": "plan the trip"}]


@pytest.fixture
def traced_server(stack: Stack, workdir: Path) -> Iterator[ServerProcess]:
    config = {
        "tracing": {"flush_interval_s": 0.05, "content": {"capture": True}},
        "models": {"chat": deployment(stack.upstream, "fake", "1", "2")},
        "fake_models": FAKE_MODELS,
    }
    server = start_gateway(workdir, config, name="otlp")
    server.wait_ready()
    yield server
    server.stop()


def _trace(url: str, trace_id: str, count: int) -> list[dict[str, Any]]:
    """The trace's spans, flattened, once `count` of them are stored (polls up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        answer = httpx.get(f"{url}/api/v1/traces/{trace_id}", timeout=10)
        spans: list[dict[str, Any]] = []
        if answer.status_code == 200:
            pending = list(answer.json()["spans"])
            while pending:
                span = pending.pop()
                spans.append(span)
                pending += span.get("children", [])
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def test_an_instrumented_app_and_the_gateway_share_one_trace(traced_server: ServerProcess) -> None:
    url = traced_server.url
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"authorization": "Bearer k"})
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        tracer = provider.get_tracer("trip-planner")
        with tracer.start_as_current_span("plan step") as step:
            headers: dict[str, str] = {}
            propagate.inject(headers)  # the gateway continues the application's trace
            with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as sdk:
                reply = sdk.chat.completions.create(
                    model="chat", messages=ASK, user="alice", extra_headers=headers
                )
            trace_id = format(step.get_span_context().trace_id, "032x")
        assert provider.force_flush(10_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    spans = _trace(url, trace_id, 3)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_source.setdefault(span["source"], []).append(span)
    assert len(by_source["gateway"]) == 1
    assert len(by_source["otlp"]) == 2
    step_span = next(s for s in by_source["otlp"] if s["name"] == "plan step")
    llm = next(s for s in by_source["otlp"] if s["name"] != "plan step")
    gateway = by_source["gateway"][0]

    # The tree: step -> LLM span (instrumentor) ; the gateway span is the step's child too,
    # since the traceparent was taken inside the step.
    assert step_span["parent_span_id"] is None
    assert llm["parent_span_id"] == step_span["span_id"]
    assert gateway["parent_span_id"] == step_span["span_id"]
    assert step_span["service"] == llm["service"] == "trip-planner"

    # OpenInference's attributes land in agentdeck's columns, with the cost priced.
    prompt_tokens, completion_tokens = chat_usage(ASK, reply.choices[0].message.content or "")
    assert llm["operation"] == "chat"
    assert llm["provider"] == "openai"
    assert llm["input_tokens"] == prompt_tokens == gateway["input_tokens"]
    assert llm["output_tokens"] == completion_tokens == gateway["output_tokens"]
    model = llm["response_model"] or llm["request_model"]
    assert model == reply.model
    assert (
        llm["cost_micros"]
        == gateway["cost_micros"]
        == expected_cost_micros(prompt_tokens, completion_tokens, "1", "2")
    )
    assert "plan the trip" in (llm["input_text"] or "")
    assert (reply.choices[0].message.content or "") in (llm["output_text"] or "")


def _json_export(trace_id: str, spans: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}],
                }
            ]
        }
    )


def test_json_gzip_export_with_older_conventions(traced_server: ServerProcess) -> None:
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        "status": {"code": 2, "message": "upstream said no"},
        "attributes": [
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "1000"}},
            {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": 500}},
            {"key": "session.id", "value": {"stringValue": "s-1"}},
        ],
        "events": [
            {
                "name": "gen_ai.user.message",
                "timeUnixNano": "1700000000100000000",
                "attributes": [
                    {"key": "content", "value": {"stringValue": "mail bob@example.com"}}
                ],
            }
        ],
    }
    answer = httpx.post(
        f"{traced_server.url}/v1/traces",
        content=gzip.compress(_json_export(trace_id, [span])),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    (stored,) = _trace(traced_server.url, trace_id, 1)
    assert stored["provider"] == "openai"
    assert stored["request_model"] == "gpt-4o-mini"
    assert (stored["input_tokens"], stored["output_tokens"]) == (1000, 500)
    # gpt-4o-mini lists at $0.15 / $0.60 per million tokens: 150 + 300 micro-dollars.
    assert stored["cost_micros"] == 450
    assert stored["status"] == "error"
    assert stored["status_message"] == "upstream said no"
    assert stored["session_id"] == "s-1"
    assert stored["duration_ms"] == 1500
    # Content is captured in this project, with the e-mail address redacted.
    assert "[EMAIL_1]" in stored["input_text"]
    assert "bob@example.com" not in orjson.dumps(stored).decode()


def test_sdk_trace_nests_the_app_steps_around_the_gateway_call(
    traced_server: ServerProcess,
) -> None:
    from agentdeck import sdk

    url = traced_server.url
    sdk.configure(url, api_key="k", service_name="sdk-app", set_global=False)
    seen: dict[str, str] = {}

    @sdk.trace(kind="tool", **{"gen_ai.tool.name": "lookup"})
    def lookup() -> str:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(
                model="chat", messages=ASK, extra_headers=sdk.trace_headers()
            )
        return reply.choices[0].message.content or ""

    @sdk.trace("failing step")
    async def fails() -> None:
        raise RuntimeError("no weather today")

    try:
        with sdk.trace("agent run", kind="agent") as run:
            seen["trace"] = format(run.get_span_context().trace_id, "032x")
            assert lookup()
            with pytest.raises(RuntimeError, match="no weather today"):
                asyncio.run(fails())
    finally:
        sdk.shutdown()

    spans = _trace(url, seen["trace"], 4)
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"agent run", "lookup", "failing step", "chat chat"}
    root, tool, failing = by_name["agent run"], by_name["lookup"], by_name["failing step"]
    assert root["parent_span_id"] is None
    assert root["operation"] == "invoke_agent"
    assert tool["parent_span_id"] == failing["parent_span_id"] == root["span_id"]
    assert tool["operation"] == "execute_tool"
    assert tool["tool_name"] == "lookup"
    assert by_name["chat chat"]["parent_span_id"] == tool["span_id"]  # the gateway's span
    assert by_name["chat chat"]["source"] == "gateway"
    assert failing["status"] == "error"
    assert "no weather today" in (failing["status_message"] or "")
    assert root["service"] == "sdk-app"
