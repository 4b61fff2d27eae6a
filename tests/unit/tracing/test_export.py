"""The OTLP exporter against a real collector: an aiohttp server on 127.0.0.1 that decodes
every export (protobuf, gzip) and answers as it is told (200, partial success, 503 with or
without Retry-After, 400, a hang). Ids, parents, times, attributes and events round-trip;
batches, retries, give-ups, overflow, content, the project filter and the stop are counted."""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import ConfigurationError
from agentdeck.gateway.call_spans import call_span
from agentdeck.gateway.models import CallRecord, Usage
from agentdeck.identity.grants import Grant
from agentdeck.settings import Settings
from agentdeck.settings_tracing import ExportSettings
from agentdeck.tracing.export import OtlpExporter, retry_after_s, traces_url
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from tests.unit.tracing.conftest import BASE_NS, MS_NS, make_span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@dataclass
class Answer:
    """How the collector answers one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Arrival:
    """One export request as the collector saw it."""

    at: float
    headers: dict[str, str]
    raw_size: int
    request: ExportTraceServiceRequest
    status: int

    def span_names(self) -> list[str]:
        """Names of the spans in this request, in order."""
        return [
            span.name
            for resource in self.request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


class Collector:
    """A loopback OTLP/HTTP collector that records what arrived and answers from a script
    (200 with an empty response once the script is used up)."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.arrivals: list[Arrival] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> Collector:
        """Listen on 127.0.0.1:`port` (0: any free port)."""
        # Bodies as sent: the collector undoes gzip itself.
        app = web.Application(handler_args={"auto_decompress": False})
        app.router.add_post("/v1/traces", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        host, bound = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{bound}/v1/traces"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = gzip.decompress(raw) if request.headers.get("content-encoding") == "gzip" else raw
        answer = self.answers.popleft() if self.answers else Answer()
        self.arrivals.append(
            Arrival(
                time.monotonic(),
                dict(request.headers),
                len(raw),
                ExportTraceServiceRequest.FromString(body),
                answer.status,
            )
        )
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers=answer.headers,
            content_type="application/x-protobuf",
        )

    def accepted(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, protobuf span) of every span in a request answered 2xx."""
        return [
            (attributes(resource.resource.attributes), span)
            for arrival in self.arrivals
            if arrival.status < 300
            for resource in arrival.request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Until `count` spans were accepted (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < count:
            assert time.monotonic() < deadline, f"{len(self.accepted())} of {count} spans arrived"
            await asyncio.sleep(0.01)


def value(any_value: AnyValue) -> Any:
    """An OTLP `AnyValue` as a plain value."""
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: value(pair.value) for pair in any_value.kvlist_value.values}
    return None if kind is None else getattr(any_value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP key-value pairs as a dict."""
    return {pair.key: value(pair.value) for pair in pairs}


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    """A collector listening on loopback."""
    running = await Collector().start()
    yield running
    await running.stop()


def settings(collector: Collector, **overrides: Any) -> ExportSettings:
    """Export settings pointing at `collector`, fast by default."""
    values: dict[str, Any] = {
        "enabled": True, "endpoint": collector.url, "flush_interval_s": 0.05, "batch": 100,
        "max_attempts": 3, "timeout_s": 5, "shutdown_timeout_s": 5,
    }  # fmt: skip
    values.update(overrides)
    return ExportSettings(**values)


def numbered(count: int, **fields: Any) -> list[Span]:
    """`count` spans named s0, s1, ... in tenant-a / project p1 unless told otherwise."""
    fields.setdefault("project_id", "p1")
    return [
        make_span(f"{n + 1:016x}", name=f"s{n}", start_ns=BASE_NS + n, **fields)
        for n in range(count)
    ]


def sample(metrics: Metrics, outcome: str) -> float:
    """The exporter's Prometheus counter for `outcome`."""
    found = metrics.registry.get_sample_value(
        "agentdeck_otlp_export_spans_total", {"outcome": outcome}
    )
    return found or 0.0


def gateway_span() -> Span:
    """The span of a gateway call, as the gateway builds it."""
    grant = Grant(
        key_id="key-1", tenant_id="ten-1", tenant_slug="acme", project_id="proj-1",
        principal_id="prn-1", principal_name="ann", principal_kind="user",
    )  # fmt: skip
    record = CallRecord(
        request_id="req-1", alias="smart", deployment_id="azure-east",
        usage=Usage(input_tokens=120, output_tokens=30), cost_micros=1_500, attempts=2,
        path=["smart"], tags=("beta", "eval"), cache="miss", requested_model="smart",
        started_ns=BASE_NS, trace_id=TRACE, span_id="1111222233334444", parent_span_id=PARENT,
        session_id="sess-9", end_user="alice", provider="azure",
        response_model="gpt-4o-2024-08-06", outcome="ok",
    )  # fmt: skip
    span = call_span(record, grant)
    span.end_ns = BASE_NS + 250 * MS_NS
    return span


async def test_a_gateway_span_round_trips_with_its_genai_attributes(
    collector: Collector,
) -> None:
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector, headers={"x-api-key": "k-1"}), metrics)
    await exporter.start()
    exporter.offer([gateway_span()])
    await collector.wait_for(1)
    await exporter.stop()

    (arrival,) = collector.arrivals
    assert arrival.headers["Content-Type"] == "application/x-protobuf"
    assert arrival.headers["Content-Encoding"] == "gzip"
    assert arrival.headers["x-api-key"] == "k-1"
    assert arrival.headers["User-Agent"].startswith("agentdeck/")
    (scope,) = arrival.request.resource_spans[0].scope_spans
    assert scope.scope.name == "agentdeck"
    ((resource, span),) = collector.accepted()
    assert resource == {
        "service.name": "agentdeck",
        "agentdeck.tenant.id": "ten-1",
        "agentdeck.project.id": "proj-1",
    }
    assert span.trace_id.hex() == TRACE
    assert span.span_id.hex() == "1111222233334444"
    assert span.parent_span_id.hex() == PARENT
    assert span.name == "chat smart"
    assert span.kind == 3  # SPAN_KIND_CLIENT
    assert span.status.code == 1  # STATUS_CODE_OK
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
        BASE_NS,
        BASE_NS + 250 * MS_NS,
    )
    sent = attributes(span.attributes)
    assert sent["gen_ai.operation.name"] == "chat"
    assert sent["gen_ai.provider.name"] == "azure.ai.openai"
    assert sent["gen_ai.request.model"] == "smart"
    assert sent["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (sent["gen_ai.usage.input_tokens"], sent["gen_ai.usage.output_tokens"]) == (120, 30)
    assert sent["agentdeck.cost_micros"] == 1_500
    assert sent["agentdeck.attempts"] == 2
    assert sent["agentdeck.deployment"] == "azure-east"
    assert sent["agentdeck.cache"] == "miss"
    assert sent["agentdeck.tags"] == ["beta", "eval"]
    assert sent["agentdeck.session.id"] == sent["gen_ai.conversation.id"] == "sess-9"
    assert sent["agentdeck.user.id"].startswith("h:")  # hashed, as stored
    assert sent["agentdeck.stream"] is False
    assert sent["agentdeck.source"] == "gateway"
    assert "agentdeck.content" not in sent  # gateway spans carry no content
    assert exporter.counts == {"sent": 1, "rejected": 0, "failed": 0, "dropped": 0}
    assert sample(metrics, "sent") == 1


async def test_a_received_span_keeps_its_events_values_and_error(collector: Collector) -> None:
    span = make_span(
        "2222333344445555", trace_id=TRACE, parent_span_id=None, name="tool step",
        kind="internal", status="error", status_message="no weather", source="otlp",
        service="trip-planner", project_id="p1", tool_name="get_weather",
        user_id="h:0123456789abcdef0123456789abcdef", input_tokens=7,
        attributes={
            "user.id": "alice@example.com", "enduser.id": "alice", "big": 1 << 70,
            "ratio": 0.25, "flags": [True, None, 3], "nested": {"a": {"b": ["c"]}},
            "empty": [], "resource.host.name": "h1", "otel.scope.name": "manual",
        },
        events=[{"name": "retry", "time_ns": BASE_NS + 5, "attributes": {"attempt": 2}}],
    )  # fmt: skip
    exporter = OtlpExporter(settings(collector, compression="none"))
    exporter.offer([span])
    await exporter.stop()  # a stop without a start exports what was offered

    assert "Content-Encoding" not in collector.arrivals[0].headers
    ((resource, sent),) = collector.accepted()
    assert resource["service.name"] == "trip-planner"
    assert sent.parent_span_id == b""
    assert (sent.kind, sent.status.code, sent.status.message) == (1, 2, "no weather")
    values = attributes(sent.attributes)
    assert values["gen_ai.tool.name"] == "get_weather"
    assert values["gen_ai.usage.input_tokens"] == 7
    assert "gen_ai.usage.output_tokens" not in values  # an empty column is not sent
    assert values["big"] == str(1 << 70)  # past int64: as text
    assert values["ratio"] == 0.25
    assert values["flags"] == [True, None, 3]
    assert values["nested"] == {"a": {"b": ["c"]}}
    assert values["empty"] == []
    assert values["resource.host.name"] == "h1"
    # The store hashed the end user: the id as sent does not leave either.
    assert "user.id" not in values
    assert "enduser.id" not in values
    assert values["agentdeck.user.id"] == "h:0123456789abcdef0123456789abcdef"
    (event,) = sent.events
    assert (event.name, event.time_unix_nano) == ("retry", BASE_NS + 5)
    assert attributes(event.attributes) == {"attempt": 2}


async def test_spans_are_grouped_by_service_tenant_and_project(collector: Collector) -> None:
    spans = [
        *numbered(2, service="a", tenant_id="t1"),
        *numbered(1, service="b", tenant_id="t1"),
        *numbered(1, service="a", tenant_id="t2", project_id="p2"),
        *numbered(1, service=None, tenant_id="t1"),
    ]
    exporter = OtlpExporter(settings(collector))
    exporter.offer(spans)
    await exporter.stop()

    (arrival,) = collector.arrivals
    groups = {}
    for resource in arrival.request.resource_spans:
        key = tuple(attributes(resource.resource.attributes).values())
        groups[key] = len(resource.scope_spans[0].spans)
    assert groups == {
        ("a", "t1", "p1"): 2,
        ("b", "t1", "p1"): 1,
        ("a", "t2", "p2"): 1,
        ("unknown_service", "t1", "p1"): 1,
    }


async def test_spans_go_in_batches_of_the_configured_size(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector, batch=3))
    exporter.offer(numbered(7))
    await exporter.stop()

    assert [len(a.span_names()) for a in collector.arrivals] == [3, 3, 1]
    assert [name for a in collector.arrivals for name in a.span_names()] == [
        f"s{n}" for n in range(7)
    ]
    assert exporter.counts["sent"] == 7


async def test_spans_offered_within_the_interval_share_one_request(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector, flush_interval_s=0.5))
    await exporter.start()
    spans = numbered(4)
    exporter.offer(spans[:2])
    await asyncio.sleep(0.1)
    exporter.offer(spans[2:])
    await collector.wait_for(4)
    await exporter.stop()

    assert [len(a.span_names()) for a in collector.arrivals] == [4]


async def test_a_503_is_retried_and_the_span_arrives_once(collector: Collector) -> None:
    collector.answers.append(Answer(503, b"overloaded"))
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector), metrics, backoff_s=0.05)
    exporter.offer(numbered(2))
    await exporter.stop()

    assert [a.status for a in collector.arrivals] == [503, 200]
    assert collector.arrivals[0].span_names() == collector.arrivals[1].span_names()
    assert [span.name for _, span in collector.accepted()] == ["s0", "s1"]
    assert exporter.counts == {"sent": 2, "rejected": 0, "failed": 0, "dropped": 0}
    assert (sample(metrics, "sent"), sample(metrics, "failed")) == (2, 0)


async def test_retry_after_is_honoured(collector: Collector) -> None:
    collector.answers.append(Answer(429, headers={"Retry-After": "1"}))
    exporter = OtlpExporter(settings(collector), backoff_s=0.01)
    exporter.offer(numbered(1))
    await exporter.stop()

    first, second = collector.arrivals
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95
    assert exporter.counts["sent"] == 1


async def test_a_collector_down_is_retried_until_it_comes_up() -> None:
    waiting = Collector()
    probe = await Collector().start()  # a free port, released for the collector to come
    port = int(probe.url.split(":")[2].split("/")[0])
    await probe.stop()
    export = ExportSettings(
        enabled=True, endpoint=f"http://127.0.0.1:{port}", max_attempts=10, flush_interval_s=0.01
    )
    exporter = OtlpExporter(export, backoff_s=0.1)
    await exporter.start()
    exporter.offer(numbered(1))
    await asyncio.sleep(0.3)  # refused at least once
    await waiting.start(port)
    try:
        await waiting.wait_for(1)
        await exporter.stop()
    finally:
        await waiting.stop()

    assert len(waiting.arrivals) == 1
    assert exporter.counts == {"sent": 1, "rejected": 0, "failed": 0, "dropped": 0}


async def test_attempts_run_out_and_the_batch_is_counted_failed(collector: Collector) -> None:
    collector.answers.extend([Answer(502), Answer(504), Answer(503)])
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector, max_attempts=3), metrics, backoff_s=0.01)
    exporter.offer(numbered(4))
    await exporter.stop()

    assert [a.status for a in collector.arrivals] == [502, 504, 503]
    assert exporter.counts == {"sent": 0, "rejected": 0, "failed": 4, "dropped": 0}
    assert sample(metrics, "failed") == 4


@pytest.mark.parametrize("status", [400, 401, 413, 500])
async def test_a_status_that_is_not_retryable_gives_up_at_once(
    collector: Collector, status: int
) -> None:
    collector.answers.append(Answer(status, b"bad payload"))
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector), metrics, backoff_s=0.01)
    exporter.offer(numbered(3))
    await exporter.stop()

    assert [a.status for a in collector.arrivals] == [status]
    assert exporter.counts == {"sent": 0, "rejected": 0, "failed": 3, "dropped": 0}
    assert sample(metrics, "failed") == 3


async def test_a_partial_success_counts_the_rejected_spans(collector: Collector) -> None:
    partial = ExportTraceServiceResponse()
    partial.partial_success.rejected_spans = 2
    partial.partial_success.error_message = "2 spans too old"
    collector.answers.append(Answer(200, partial.SerializeToString()))
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector), metrics)
    exporter.offer(numbered(5))
    await exporter.stop()

    assert exporter.counts == {"sent": 3, "rejected": 2, "failed": 0, "dropped": 0}
    assert (sample(metrics, "sent"), sample(metrics, "rejected")) == (3, 2)


async def test_a_full_queue_drops_and_counts(collector: Collector) -> None:
    metrics = Metrics()
    exporter = OtlpExporter(settings(collector, queue_max=5), metrics)
    exporter.offer(numbered(3))
    exporter.offer(numbered(5))  # two fit
    assert exporter.pending == 5
    await exporter.stop()

    assert len(collector.accepted()) == 5
    assert exporter.counts == {"sent": 5, "rejected": 0, "failed": 0, "dropped": 3}
    assert sample(metrics, "dropped") == 3
    exporter.offer(numbered(2))  # after the stop
    assert exporter.counts["dropped"] == 5
    assert exporter.pending == 0


def content_span() -> Span:
    """A stored span whose project captured content."""
    return make_span(
        "3333444455556666", source="otlp", project_id="p1",
        attributes={
            "gen_ai.input.messages": '[{"role":"user","content":"hi [EMAIL_1]"}]',
            "gen_ai.prompt.0.content": "hi", "gen_ai.prompt.name": "greeter",
            "gen_ai.request.model": "gpt-4o-mini",
        },
        events=[
            {"name": "gen_ai.user.message", "time_ns": BASE_NS, "attributes": {"content": "hi"}},
            {"name": "retry", "time_ns": BASE_NS, "attributes": {"attempt": 1}},
        ],
        input_text='[{"role":"user","content":"hi [EMAIL_1]"}]', output_text="hello",
    )  # fmt: skip


async def test_content_is_not_exported_by_default(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector))
    exporter.offer([content_span()])
    await exporter.stop()

    ((_, span),) = collector.accepted()
    sent = attributes(span.attributes)
    assert "gen_ai.input.messages" not in sent
    assert "gen_ai.prompt.0.content" not in sent
    assert "input.value" not in sent
    assert "output.value" not in sent
    assert sent["gen_ai.prompt.name"] == "greeter"  # a name, not content
    assert sent["agentdeck.content"] == "not exported"
    events = {event.name: attributes(event.attributes) for event in span.events}
    assert events == {"gen_ai.user.message": {}, "retry": {"attempt": 1}}


async def test_content_is_exported_when_included(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector, include_content=True))
    exporter.offer([content_span()])
    await exporter.stop()

    ((_, span),) = collector.accepted()
    sent = attributes(span.attributes)
    assert sent["gen_ai.input.messages"] == '[{"role":"user","content":"hi [EMAIL_1]"}]'
    assert sent["gen_ai.prompt.0.content"] == "hi"
    assert sent["input.value"] == '[{"role":"user","content":"hi [EMAIL_1]"}]'
    assert sent["output.value"] == "hello"
    assert "agentdeck.content" not in sent
    events = {event.name: attributes(event.attributes) for event in span.events}
    assert events["gen_ai.user.message"] == {"content": "hi"}


async def test_only_the_listed_projects_are_exported(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector, projects=["p1"]))
    exporter.offer([*numbered(2, project_id="p1"), *numbered(3, project_id="p2")])
    await exporter.stop()

    assert [(r["agentdeck.project.id"], s.name) for r, s in collector.accepted()] == [
        ("p1", "s0"),
        ("p1", "s1"),
    ]
    assert exporter.counts == {"sent": 2, "rejected": 0, "failed": 0, "dropped": 0}


async def test_a_stop_flushes_without_waiting_for_the_interval(collector: Collector) -> None:
    exporter = OtlpExporter(settings(collector, flush_interval_s=60))
    await exporter.start()
    exporter.offer(numbered(3))
    await asyncio.sleep(0.05)
    assert collector.arrivals == []  # still gathering a batch
    started = time.monotonic()
    await exporter.stop()

    assert time.monotonic() - started < 2
    assert len(collector.accepted()) == 3
    assert exporter.pending == 0


async def test_a_stop_is_bounded_by_its_time_limit(collector: Collector) -> None:
    collector.answers.append(Answer(200, delay_s=1.5))  # the collector hangs on the first batch
    metrics = Metrics()
    exporter = OtlpExporter(
        settings(collector, batch=2, shutdown_timeout_s=0.3, timeout_s=30), metrics
    )
    exporter.offer(numbered(5))
    started = time.monotonic()
    await exporter.stop()

    assert time.monotonic() - started < 1.5
    assert exporter.counts == {"sent": 0, "rejected": 0, "failed": 2, "dropped": 3}
    assert (sample(metrics, "failed"), sample(metrics, "dropped")) == (2, 3)
    assert exporter.pending == 0


async def test_a_span_with_unusable_ids_is_counted_failed_alone(collector: Collector) -> None:
    good = numbered(2)
    bad = [make_span("x" * 16, name="bad id"), make_span("abcd", name="short id")]
    exporter = OtlpExporter(settings(collector))
    exporter.offer([good[0], *bad, good[1]])
    await exporter.stop()

    assert [span.name for _, span in collector.accepted()] == ["s0", "s1"]
    assert exporter.counts == {"sent": 2, "rejected": 0, "failed": 2, "dropped": 0}


async def test_spans_the_recorder_stores_are_forwarded(
    store: AsyncEngine, collector: Collector
) -> None:
    exporter = OtlpExporter(settings(collector))
    recorder = SpanRecorder(store, batch=10, interval_s=0.01, on_written=exporter.offer)
    await exporter.start()
    await recorder.start()
    for span in numbered(25):
        recorder.record(span)
    await recorder.stop()
    await exporter.stop()

    assert sorted(span.name for _, span in collector.accepted()) == sorted(
        f"s{n}" for n in range(25)
    )
    assert exporter.counts["sent"] == 25


async def test_headers_from_the_environment(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_COLLECTOR_KEY", "secret-1")
    exporter = OtlpExporter(settings(collector, headers_env={"dd-api-key": "TEST_COLLECTOR_KEY"}))
    exporter.offer(numbered(1))
    await exporter.stop()
    assert collector.arrivals[0].headers["dd-api-key"] == "secret-1"

    monkeypatch.delenv("TEST_COLLECTOR_KEY")
    with pytest.raises(ConfigurationError, match="TEST_COLLECTOR_KEY"):
        OtlpExporter(settings(collector, headers_env={"dd-api-key": "TEST_COLLECTOR_KEY"}))


def test_the_traces_path_is_added_to_a_bare_endpoint() -> None:
    assert traces_url("http://tempo:4318") == "http://tempo:4318/v1/traces"
    assert traces_url("http://tempo:4318/") == "http://tempo:4318/v1/traces"
    assert (
        traces_url("https://cloud.langfuse.com/api/public/otel/v1/traces")
        == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    )


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= (retry_after_s(later) or 0) <= 30
    assert retry_after_s("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ({"enabled": True}, "endpoint is required when the otlp exporter is enabled"),
        ({"endpoint": "collector:4318"}, "endpoint must be an http(s) URL"),
        ({"endpoint": "ftp://collector/v1/traces"}, "endpoint must be an http(s) URL"),
        ({"headers": {"x-key": "a\r\nb"}}, "holds a line break"),
        ({"headers": {"bad header": "a"}}, "is not an HTTP header name"),
        ({"headers": {"Content-Type": "a"}}, "is set by the exporter itself"),
        ({"headers_env": {"x-key": "1NOT-A-NAME"}}, "is not an environment variable name"),
        ({"compression": "zstd"}, "compression"),
        ({"batch": 0}, "batch"),
    ],
)
def test_export_settings_name_the_problem(export: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        Settings(tracing={"export": export})
    assert "tracing.export" in str(caught.value)


def test_export_is_off_by_default() -> None:
    export = Settings().tracing.export
    assert export.enabled is False
    assert export.include_content is False
    assert export.projects == []
