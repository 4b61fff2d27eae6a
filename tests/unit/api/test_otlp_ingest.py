"""`POST /v1/traces` through the in-process app with identity on: keys and the traces:write
permission, spans stored in the key's tenant and project and read back, partial success,
refusals as google.rpc.Status in the request's format, 413s, the 503 that keeps nothing when
the span queue cannot take the whole request, content policy, and a fuzz that never sees a 5xx.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import uuid
import zlib
from typing import Any

import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from starlette.applications import Starlette
from starlette.routing import Route

from agentdeck.app import create_app
from agentdeck.gateway.call_spans import hashed_user
from agentdeck.gateway.http import RawRoute
from agentdeck.guardrails.pii import redactor
from agentdeck.identity.grants import Grant
from agentdeck.settings_tracing import TracingSettings
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.ingest import SPANS_PER_TURN, OtlpIngest
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.recorder import SpanRecorder
from tests.unit.api._deck import OWNER_KEY, Deck, bearer
from tests.unit.api.conftest import DeckFactory, _postgres

PROTOBUF, JSON = "application/x-protobuf", "application/json"
TRACE = "5b8efff798038103d269b633813fc60c"
START = 1_700_000_000_000_000_000
FAST = {"enabled": True, "flush_interval_s": 0.02}


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    found = []
    for key, value in values.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        else:
            any_value = AnyValue(string_value=value)
        found.append(KeyValue(key=key, value=any_value))
    return found


def _pb_span(span_id: str, trace_id: str = TRACE, **fields: Any) -> PbSpan:
    attributes = fields.pop("attributes", {})
    events = fields.pop("events", [])
    fields.setdefault("start_time_unix_nano", START)
    fields.setdefault("end_time_unix_nano", START + 250_000_000)
    span = PbSpan(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id), **fields)
    span.attributes.extend(_attributes(attributes))
    for name, values in events:
        event = span.events.add()
        event.name = name
        event.time_unix_nano = START + 1
        event.attributes.extend(_attributes(values))
    return span


def _export(*spans: PbSpan, service: str = "trip-planner") -> bytes:
    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    group.resource.attributes.extend(_attributes({"service.name": service}))
    scope_spans = group.scope_spans.add()
    scope_spans.scope.name = "manual"
    scope_spans.spans.extend(spans)
    return request.SerializeToString()


def _json_export(*spans: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


def _numbered(count: int, trace_id: str) -> bytes:
    return _export(*(_pb_span(f"{n + 1:016x}", trace_id, name=f"step {n}") for n in range(count)))


async def _send(
    deck: Deck,
    body: bytes,
    headers: dict[str, str] | None,
    kind: str = PROTOBUF,
    **extra: str,
) -> httpx.Response:
    sent = {**(headers or {}), "content-type": kind, **extra}
    return await deck.client.post("/v1/traces", content=body, headers=sent)


def _status(response: httpx.Response) -> tuple[int, str]:
    """The google.rpc.Status of a failure answer, in the request's format."""
    if response.headers["content-type"] == PROTOBUF:
        status = Status.FromString(response.content)
        return status.code, status.message
    body = response.json()
    return body["code"], body["message"]


async def _spans(deck: Deck, headers: dict[str, str], trace_id: str) -> list[dict[str, Any]]:
    found = await deck.api("GET", f"/spans?trace_id={trace_id}", headers)
    spans: list[dict[str, Any]] = found["data"]
    return sorted(spans, key=lambda span: span["span_id"])


def _ingest(deck: Deck) -> OtlpIngest:
    """The app's OTLP handler (to reach its span recorder)."""
    transport = deck.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return _ingest_of(transport.app)


def _ingest_of(app: Any) -> OtlpIngest:
    assert isinstance(app, Starlette)
    route = next(r for r in app.routes if isinstance(r, Route) and r.path == "/v1/traces")
    assert isinstance(route.endpoint, RawRoute)
    ingest = getattr(route.endpoint.handler, "__self__", None)
    assert isinstance(ingest, OtlpIngest)
    return ingest


def _recorder(deck: Deck) -> SpanRecorder:
    recorder = _ingest(deck)._recorder
    assert isinstance(recorder, SpanRecorder)
    return recorder


async def _metric(deck: Deck, outcome: str) -> float:
    text = (await deck.client.get("/metrics")).text
    line = f'agentdeck_otlp_spans_total{{outcome="{outcome}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0][len(line) :]) if found else 0.0


@pytest.fixture
async def deck(open_deck: DeckFactory) -> Deck:
    """The app with identity on and a recorder that writes every 20 ms."""
    found: Deck = await open_deck(tracing=FAST)
    return found


# --- keys and permissions --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [PROTOBUF, JSON])
async def test_no_key_is_a_401(deck: Deck, kind: str) -> None:
    body = _export(_pb_span("00000000000000a1")) if kind == PROTOBUF else _json_export()
    answer = await _send(deck, body, None, kind)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == kind
    missing = "missing API key: send it as 'Authorization: Bearer ad_...' or in the 'x-api-key'"
    assert _status(answer) == (16, f"{missing} header")  # UNAUTHENTICATED
    wrong = await _send(deck, body, {"authorization": "Bearer ad_test_nope"}, kind)
    assert wrong.status_code == 401
    assert _status(wrong)[0] == 16
    assert await _metric(deck, "accepted") == 0


async def test_the_json_failure_body_carries_the_openai_error_too(deck: Deck) -> None:
    answer = await _send(deck, b"{}", None, JSON)
    body = answer.json()
    assert set(body) == {"code", "message", "error"}
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["message"] == body["message"]


@pytest.mark.parametrize("kind", [PROTOBUF, JSON])
async def test_a_viewer_key_is_a_403_naming_the_permission(deck: Deck, kind: str) -> None:
    viewer = await deck.member("vera", "viewer")
    body = _export(_pb_span("00000000000000a1")) if kind == PROTOBUF else _json_export()
    answer = await _send(deck, body, viewer.headers, kind)
    assert answer.status_code == 403
    assert _status(answer) == (7, "user:vera may not send spans (needs traces:write)")
    assert await _metric(deck, "accepted") == 0


async def test_a_developer_key_stores_spans_in_its_tenant_and_project(deck: Deck) -> None:
    project = await deck.api("POST", "/projects", json={"slug": "second"}, expect=201)
    dev = await deck.member("dana", "developer", project_id=project["id"])
    me = await deck.api("GET", "/me", dev.headers)
    assert me["project_id"] == project["id"]
    root = _pb_span(
        "00000000000000b1",
        name="plan trip",
        kind=PbSpan.SPAN_KIND_SERVER,
        attributes={"user.id": "alice", "session.id": "s-1", "agentdeck.tags": "beta"},
    )
    child = _pb_span(
        "00000000000000b2",
        name="chat gpt-4o-mini",
        kind=PbSpan.SPAN_KIND_CLIENT,
        parent_span_id=bytes.fromhex("00000000000000b1"),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
        },
    )
    answer = await _send(deck, _export(root, child), dev.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == PROTOBUF
    assert answer.content == b""
    assert not ExportTraceServiceResponse.FromString(answer.content).HasField("partial_success")

    trace = await deck.wait_for_trace(dev.headers, TRACE, spans=2)
    assert trace["span_count"] == 2
    stored_root, stored_child = await _spans(deck, dev.headers, TRACE)
    for span in (stored_root, stored_child):
        assert span["tenant_id"] == me["tenant_id"]
        assert span["project_id"] == project["id"]
        assert span["source"] == "otlp"
        assert span["service"] == "trip-planner"
        assert span["attributes"]["otel.scope.name"] == "manual"
        assert span["duration_ms"] == 250
        assert span["start_ns"] == START
    assert (stored_root["name"], stored_root["kind"], stored_root["parent_span_id"]) == (
        "plan trip", "server", None
    )  # fmt: skip
    assert stored_root["user_id"] == hashed_user(me["tenant_id"], "alice")
    assert (stored_root["session_id"], stored_root["tags"]) == ("s-1", ",beta,")
    assert stored_child["parent_span_id"] == "00000000000000b1"
    assert (stored_child["operation"], stored_child["provider"]) == ("chat", "openai")
    assert (stored_child["input_tokens"], stored_child["output_tokens"]) == (1000, 500)
    # gpt-4o-mini lists at $0.15 / $0.60 per million tokens: 150 + 300 micro-dollars.
    assert stored_child["cost_micros"] == 450
    assert await _metric(deck, "accepted") == 2


async def test_another_tenant_neither_sees_nor_collides_with_the_spans(deck: Deck) -> None:
    mine = await _send(deck, _export(_pb_span("00000000000000c1", name="mine")), deck.owner)
    assert mine.status_code == 200
    await deck.wait_for_trace(deck.owner, TRACE)
    other = await deck.tenant("other", "olga")
    assert (await deck.api("GET", f"/spans?trace_id={TRACE}", other.headers))["data"] == []
    await deck.api("GET", f"/traces/{TRACE}", other.headers, expect=404)

    theirs = _export(_pb_span("00000000000000c1", name="theirs"))  # the same ids
    assert (await _send(deck, theirs, other.headers)).status_code == 200
    await deck.wait_for_trace(other.headers, TRACE)
    (their_span,) = await _spans(deck, other.headers, TRACE)
    (my_span,) = await _spans(deck, deck.owner, TRACE)
    assert (their_span["name"], their_span["tenant_id"]) == ("theirs", other.tenant_id)
    assert (their_span["project_id"]) == other.project_id
    assert my_span["name"] == "mine"
    assert my_span["tenant_id"] != other.tenant_id


# --- formats and partial success -------------------------------------------------------------


async def test_partial_success_in_protobuf(deck: Deck) -> None:
    bad = _pb_span("00000000000000d2")
    bad.span_id = b"\x01\x02\x03"
    answer = await _send(deck, _export(_pb_span("00000000000000d1"), bad), deck.owner)
    assert answer.status_code == 200
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message == (
        "resourceSpans[0].scopeSpans[0].spans[1]: spanId has 3 bytes, not 8"
    )
    await deck.wait_for_trace(deck.owner, TRACE)
    assert [s["span_id"] for s in await _spans(deck, deck.owner, TRACE)] == ["00000000000000d1"]
    assert await _metric(deck, "rejected") == 1


async def test_a_gzipped_json_export_with_partial_success(deck: Deck) -> None:
    spans: list[dict[str, Any]] = [
        {"traceId": TRACE, "spanId": "00000000000000e1", "name": "ok", "kind": "SPAN_KIND_CLIENT",
         "startTimeUnixNano": str(START), "endTimeUnixNano": str(START + 10**9),
         "status": {"code": "STATUS_CODE_ERROR", "message": "upstream said no"},
         "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}]},
        {"traceId": TRACE, "spanId": "0" * 16, "name": "zero"},
    ]  # fmt: skip
    answer = await _send(
        deck, gzip.compress(_json_export(*spans)), deck.owner, JSON, **{"content-encoding": "gzip"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == JSON
    assert answer.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "resourceSpans[0].scopeSpans[0].spans[1]: spanId is not a valid id "
            "(hex or base64 of the right length)",
        }
    }
    await deck.wait_for_trace(deck.owner, TRACE)
    (stored,) = await _spans(deck, deck.owner, TRACE)
    assert (stored["name"], stored["kind"], stored["status"]) == ("ok", "client", "error")
    assert (stored["status_message"], stored["input_tokens"]) == ("upstream said no", 12)
    assert stored["duration_ms"] == 1000


async def test_a_deflated_protobuf_export(deck: Deck) -> None:
    body = zlib.compress(_export(_pb_span("00000000000000e2")))
    answer = await _send(deck, body, deck.owner, **{"content-encoding": "deflate"})
    assert answer.status_code == 200
    await deck.wait_for_trace(deck.owner, TRACE)


async def test_an_empty_export_is_accepted(deck: Deck) -> None:
    for kind, body in ((PROTOBUF, b""), (JSON, b"{}")):
        answer = await _send(deck, body, deck.owner, kind)
        assert answer.status_code == 200
        assert answer.content == (b"" if kind == PROTOBUF else b"{}")


# --- refusals --------------------------------------------------------------------------------


async def test_a_malformed_json_export_is_a_400_naming_the_field(deck: Deck) -> None:
    body = _json_export({"traceId": TRACE, "spanId": "00000000000000f1", "kind": "nope"})
    answer = await _send(deck, body, deck.owner, JSON)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == JSON
    message = "resourceSpans[0].scopeSpans[0].spans[0].kind is not a known enum value: 'nope'"
    assert answer.json() == {
        "code": 3,
        "message": message,
        "error": {"message": message, "type": "invalid_request_error",
                  "code": "invalid_request", "param": "body"},
    }  # fmt: skip
    assert (
        (await _send(deck, b"{", deck.owner, JSON))
        .json()["message"]
        .startswith("body is not JSON: ")
    )


async def test_a_body_that_is_not_protobuf_is_a_400(deck: Deck) -> None:
    answer = await _send(deck, b"\x0a\x05ab", deck.owner)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROTOBUF
    code, message = _status(answer)
    assert code == 3  # INVALID_ARGUMENT
    assert message.startswith("body is not an OTLP protobuf ExportTraceServiceRequest")


async def test_truncated_gzip_is_a_400_and_an_unknown_encoding_too(deck: Deck) -> None:
    whole = gzip.compress(_numbered(20, TRACE))
    cut = await _send(deck, whole[:-12], deck.owner, **{"content-encoding": "gzip"})
    assert cut.status_code == 400
    assert _status(cut) == (3, "body is truncated gzip data")
    brotli = await _send(deck, whole, deck.owner, JSON, **{"content-encoding": "br"})
    assert brotli.status_code == 400
    assert _status(brotli) == (
        3, "content-encoding 'br' is not supported: send gzip, deflate or none"
    )  # fmt: skip


async def test_an_unsupported_content_type_is_a_415(deck: Deck) -> None:
    answer = await _send(deck, b"hello", deck.owner, "text/plain")
    assert answer.status_code == 415
    assert _status(answer)[0] == 3


async def test_an_unsupported_content_type_is_refused_before_reading_the_key(deck: Deck) -> None:
    answer = await _send(deck, b"hello", None, "text/plain")
    assert answer.status_code // 100 == 4
    assert answer.status_code != 401
    assert answer.headers["content-type"] == PROTOBUF
    assert _status(answer) == (
        3, "content-type 'text/plain' is not OTLP: send application/x-protobuf or application/json"
    )  # fmt: skip


async def test_a_gzip_bomb_is_a_413(open_deck: DeckFactory) -> None:
    deck: Deck = await open_deck(tracing={**FAST, "max_ingest_bytes": 4096})
    bomb = gzip.compress(bytes(8 * 1024 * 1024))
    answer = await _send(deck, bomb, deck.owner, **{"content-encoding": "gzip"})
    assert answer.status_code == 413
    assert _status(answer) == (
        8,
        "body inflates past the limit of 4096 bytes",
    )  # RESOURCE_EXHAUSTED
    exact = gzip.compress(_numbered(1, TRACE))
    assert (await _send(deck, exact, deck.owner, **{"content-encoding": "gzip"})).status_code == 200


async def test_a_body_over_the_server_limit_is_a_413(open_deck: DeckFactory) -> None:
    deck: Deck = await open_deck(tracing=FAST, server={"max_body_bytes": 2048})
    answer = await _send(deck, bytes(4096), deck.owner, JSON)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == JSON
    assert _status(answer) == (8, "request body is 4096 bytes; the limit is 2048 bytes")


@pytest.mark.parametrize(
    "span",
    [
        {"attributes": [{"key": "a", "value": {"intValue": "--5"}}]},
        {"attributes": [{"key": "a", "value": {"intValue": "²"}}]},
        {"startTimeUnixNano": "²"},
        {"events": [{"name": "e", "timeUnixNano": "³"}]},
        {"attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "²"}}]},
    ],
)
async def test_odd_digits_are_a_400_or_ignored_never_a_500(
    deck: Deck, span: dict[str, Any]
) -> None:
    body = _json_export({"traceId": TRACE, "spanId": "00000000000000f2", **span})
    answer = await _send(deck, body, deck.owner, JSON)
    assert answer.status_code in (200, 400), answer.text


def _deep_attribute(levels: int, key: str = "gen_ai.input.messages") -> bytes:
    """A JSON span whose attribute nests a key-value list in two arrays, `levels` times."""
    value = '{"stringValue":"leaf"}'
    for _ in range(levels):
        value = '{"kvlistValue":{"values":[{"key":"k","value":' + value + "}]}}"
        value = '{"arrayValue":{"values":[{"arrayValue":{"values":[' + value + "]}}]}}"
    span = (
        f'{{"traceId":"{TRACE}","spanId":"00000000000000f3","attributes":'
        f'[{{"key":"{key}","value":{value}}}]}}'
    )
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + span + "]}]}]}").encode()


async def test_a_deeply_nested_json_attribute_is_never_a_500(open_deck: DeckFactory) -> None:
    deck: Deck = await open_deck(tracing={**FAST, "content": {"capture": True}})
    answer = await _send(deck, _deep_attribute(100), deck.owner, JSON)
    assert answer.status_code in (200, 400), answer.text


# --- spans the store cannot take ------------------------------------------------------------

_POISONS: dict[str, tuple[str, bytes]] = {
    "end time beyond int64": (PROTOBUF, _export(
        _pb_span("00000000000000f4", end_time_unix_nano=2**64 - 1))),
    "nesting beyond the JSON encoder": (JSON, _deep_attribute(100, "x.note")),
    "NUL in the name": (PROTOBUF, _export(_pb_span("00000000000000f5", name="a\x00b"))),
    "prompt version beyond int32": (PROTOBUF, _export(
        _pb_span("00000000000000f6", attributes={"agentdeck.prompt.version": 3_000_000_000}))),
}  # fmt: skip


def _poison_cases() -> list[Any]:
    return [
        pytest.param(db, poison, id=f"{db}-{poison}")
        for db in ("sqlite", "postgres")
        for poison in _POISONS
    ]


@pytest.mark.parametrize(("db", "poison"), _poison_cases())
async def test_a_span_the_store_refuses_does_not_stop_later_spans(
    db: str, poison: str, request: pytest.FixtureRequest, make_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TEST_OWNER_KEY", OWNER_KEY)
    database: dict[str, str] | None = None
    if db == "postgres":
        url = request.getfixturevalue("postgres_url").replace("+asyncpg", "")
        database = {"url": url, "schema_name": f"t_{uuid.uuid4().hex[:12]}"}
        await _postgres(url, f'CREATE SCHEMA "{database["schema_name"]}"')
    identity = {"enabled": True, "bootstrap_on_start": True, "key_env": "test",
                "bootstrap": {"owner_key_env": "TEST_OWNER_KEY"}}  # fmt: skip
    values: dict[str, Any] = {"tracing": FAST, "identity": identity}
    if database is not None:
        values["database"] = database
    app = create_app(make_settings(**values))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    owner = bearer(OWNER_KEY)
    shutdown: BaseException | None = None
    try:
        kind, body = _POISONS[poison]
        assert (
            await client.post("/v1/traces", content=body, headers={**owner, "content-type": kind})
        ).status_code == 200
        later = _export(_pb_span("00000000000000f7", "9" * 32, name="later"))
        sent = await client.post("/v1/traces", content=later,
                                 headers={**owner, "content-type": PROTOBUF})  # fmt: skip
        assert sent.status_code == 200
        deadline = time.monotonic() + 3
        while (await client.get(f"/api/v1/traces/{'9' * 32}", headers=owner)).status_code != 200:
            assert time.monotonic() < deadline, "a span sent after it was never stored"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()
        try:
            await lifespan.__aexit__(None, None, None)
        except Exception as error:  # the broken writer raises again on stop
            shutdown = error
            await _ingest_of(app)._recorder._engine.dispose()  # what the lifespan left open
        if database is not None:
            await _postgres(database["url"], f'DROP SCHEMA "{database["schema_name"]}" CASCADE')
    assert shutdown is None


# --- a full queue ----------------------------------------------------------------------------


async def test_a_queue_too_full_for_the_request_is_a_503_that_keeps_nothing(
    open_deck: DeckFactory,
) -> None:
    deck: Deck = await open_deck(tracing={**FAST, "queue_max": 5})
    recorder = _recorder(deck)
    await recorder.writer.stop()  # nothing leaves the queue until it is started again
    first, second = "1" * 32, "2" * 32
    assert (await _send(deck, _numbered(3, first), deck.owner)).status_code == 200
    assert recorder.writer.pending == 3

    refused = await _send(deck, _numbered(3, second), deck.owner)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"] == PROTOBUF
    assert _status(refused) == (14, "the span queue is full; 3 spans not accepted, retry later")
    assert recorder.writer.pending == 3

    one = _json_export({"traceId": second, "spanId": "1" * 16})
    assert (await _send(deck, one, deck.owner, JSON)).status_code == 200  # fits in the room left
    assert recorder.writer.pending == 4
    two = _json_export(*({"traceId": second, "spanId": f"{n:016x}"} for n in (7, 8)))
    refused_json = await _send(deck, two, deck.owner, JSON)
    assert refused_json.status_code == 503
    assert refused_json.headers["retry-after"] == "5"
    assert refused_json.headers["content-type"] == JSON
    assert refused_json.json()["code"] == 14  # UNAVAILABLE
    assert recorder.writer.pending == 4  # nothing of the refused requests was queued
    assert await _metric(deck, "refused") == 5

    await recorder.writer.start()
    await deck.wait_for_trace(deck.owner, first, spans=3)
    await deck.wait_for_trace(deck.owner, second, spans=1)
    assert [s["span_id"] for s in await _spans(deck, deck.owner, second)] == ["1" * 16]

    again = await _send(deck, _numbered(3, second), deck.owner)  # the exporter's retry
    assert again.status_code == 200
    trace = await deck.wait_for_trace(deck.owner, second, spans=4)
    assert trace["span_count"] == 4
    assert await _metric(deck, "accepted") == 7


async def test_a_request_larger_than_the_whole_queue_is_always_a_503(
    open_deck: DeckFactory,
) -> None:
    deck: Deck = await open_deck(tracing={**FAST, "queue_max": 4})
    answer = await _send(deck, _numbered(5, TRACE), deck.owner)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert (await _send(deck, _numbered(4, TRACE), deck.owner)).status_code == 200
    trace = await deck.wait_for_trace(deck.owner, TRACE, spans=4)
    assert trace["span_count"] == 4


async def test_large_requests_read_side_by_side_are_each_queued_whole_or_refused_whole(
    open_deck: DeckFactory,
) -> None:
    """A request is normalized a few spans at a time, letting other requests (and the span
    writer) run in between; it is still queued whole or not at all."""
    size = SPANS_PER_TURN * 2 + 50
    deck: Deck = await open_deck(tracing={**FAST, "queue_max": size + SPANS_PER_TURN})
    recorder = _recorder(deck)
    await recorder.writer.stop()  # nothing leaves the queue until it is started again
    traces = ("a" * 32, "b" * 32)
    answers = await asyncio.gather(*(_send(deck, _numbered(size, t), deck.owner) for t in traces))
    assert sorted(answer.status_code for answer in answers) == [200, 503]
    assert recorder.writer.pending == size
    kept = traces[[answer.status_code for answer in answers].index(200)]
    await recorder.writer.start()
    trace = await deck.wait_for_trace(deck.owner, kept, spans=size)
    assert trace["span_count"] == size


# --- content policy and users ----------------------------------------------------------------

CONTENT = {
    "gen_ai.input.messages": '[{"role": "user", "content": "I am bob@example.com"}]',
    "gen_ai.output.messages": '[{"role": "assistant", "content": "hi bob"}]',
    "gen_ai.request.model": "m",
}
EVENTS = [("gen_ai.user.message", {"content": "call +44 20 7946 0958"})]


async def test_content_is_not_stored_by_default(deck: Deck) -> None:
    span = _pb_span("00000000000000a7", attributes=CONTENT, events=EVENTS)
    assert (await _send(deck, _export(span), deck.owner)).status_code == 200
    await deck.wait_for_trace(deck.owner, TRACE)
    (stored,) = await _spans(deck, deck.owner, TRACE)
    assert (stored["input_text"], stored["output_text"]) == (None, None)
    assert stored["attributes"] == {
        "gen_ai.request.model": "m",
        "agentdeck.content": "not captured",
        "resource.service.name": "trip-planner",
        "otel.scope.name": "manual",
    }
    assert stored["events"] == [
        {"name": "gen_ai.user.message", "time_ns": START + 1, "attributes": {}}
    ]


async def test_captured_content_is_redacted(open_deck: DeckFactory) -> None:
    deck: Deck = await open_deck(tracing={**FAST, "content": {"capture": True}})
    span = _pb_span("00000000000000a8", attributes=CONTENT, events=EVENTS)
    assert (await _send(deck, _export(span), deck.owner)).status_code == 200
    await deck.wait_for_trace(deck.owner, TRACE)
    (stored,) = await _spans(deck, deck.owner, TRACE)
    assert stored["input_text"] == '[{"role": "user", "content": "I am [EMAIL_1]"}]'
    assert stored["output_text"] == '[{"role": "assistant", "content": "hi bob"}]'
    assert stored["attributes"]["gen_ai.input.messages"] == stored["input_text"]
    assert stored["events"][0]["attributes"] == {"content": "call [PHONE_1]"}
    assert "bob@example.com" not in orjson.dumps(stored).decode()


def _grant(project_id: str) -> Grant:
    return Grant("key-1", "tenant-1", "t", project_id, "p-1", "pat", "user")


def test_the_origin_follows_the_projects_policies() -> None:
    settings = TracingSettings(
        content={"capture": False, "projects": {"prj_open": True, "prj_shut": False},
                 "redact": ["EMAIL"]},
        raw_user_id_projects=["prj_raw"],
    )  # fmt: skip
    ingest = OtlpIngest(
        None,  # type: ignore[arg-type]  # not used by origin()
        None,  # type: ignore[arg-type]
        settings,
        lambda model, i, o: 7,
        Metrics(),
        1 << 20,
        ContentPolicies(settings.content, redactor),
    )
    default, opened, shut = (ingest.origin(_grant(p)) for p in ("prj_x", "prj_open", "prj_shut"))
    assert (default.content.capture, opened.content.capture, shut.content.capture) == (
        False, True, False
    )  # fmt: skip
    assert opened.content.redact is not None
    assert opened.content.redact("a@example.com +44 20 7946 0958") == "[EMAIL_1] +44 20 7946 0958"
    assert (opened.tenant_id, opened.project_id, opened.price("m", 1, 1)) == (
        "tenant-1", "prj_open", 7
    )  # fmt: skip
    assert default.hash_user is not None
    assert default.hash_user("alice") == hashed_user("tenant-1", "alice")
    assert ingest.origin(_grant("prj_raw")).hash_user is None
    keep = TracingSettings(content={"redact": []})
    keep_all = OtlpIngest(None, None, keep, lambda model, i, o: None,  # type: ignore[arg-type]
                          Metrics(), 1 << 20, ContentPolicies(keep.content, redactor))  # fmt: skip
    assert keep_all.origin(_grant("p")).content.redact is None
    assert redactor(("EMAIL",))("a@example.com") == "[EMAIL_1]"


# --- fuzz ------------------------------------------------------------------------------------

FULL = _export(
    _pb_span("00000000000000aa", name="root", attributes={"k": "v", "n": 3, "b": True},
             events=[("gen_ai.user.message", {"content": "x"})]),
    _pb_span("00000000000000ab", name="child", parent_span_id=bytes.fromhex("00000000000000aa")),
)  # fmt: skip
_RPC = {400: 3, 413: 8}


def _mutations() -> st.SearchStrategy[bytes]:
    flips = st.lists(st.tuples(st.integers(0, len(FULL) - 1), st.integers(0, 255)), max_size=6)

    def flipped(changes: list[tuple[int, int]]) -> bytes:
        body = bytearray(FULL)
        for at, byte in changes:
            body[at] = byte
        return bytes(body)

    return st.one_of(
        flips.map(flipped),
        st.integers(0, len(FULL)).map(lambda end: FULL[:end]),
        st.tuples(st.integers(0, len(FULL)), st.binary(min_size=1, max_size=12)).map(
            lambda cut: FULL[: cut[0]] + cut[1] + FULL[cut[0] :]
        ),
        st.tuples(st.integers(0, len(FULL)), st.integers(0, len(FULL))).map(
            lambda ab: FULL + FULL[min(ab) : max(ab)]
        ),
    )


def _check(answer: httpx.Response, kind: str, recorder: SpanRecorder) -> None:
    assert answer.status_code in (200, 400, 413), (answer.status_code, answer.text)
    event(f"status {answer.status_code}")
    assert answer.headers["content-type"] == kind
    if answer.status_code != 200:
        assert _status(answer)[0] == _RPC[answer.status_code]
    elif kind == PROTOBUF:
        ExportTraceServiceResponse.FromString(answer.content)
    else:
        assert set(answer.json()) <= {"partialSuccess"}
    assert recorder.writer.running, "the span writer stopped"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(st.binary(max_size=400), _mutations()),
    kind=st.sampled_from([PROTOBUF, JSON]),
    encoding=st.sampled_from([None, "gzip", "deflate", "raw-gzip"]),
)
async def test_fuzz_random_bytes_and_mutated_protobuf(
    deck: Deck, body: bytes, kind: str, encoding: str | None
) -> None:
    extra = {}
    if encoding == "gzip":
        body, extra = gzip.compress(body), {"content-encoding": "gzip"}
    elif encoding == "deflate":
        body, extra = zlib.compress(body), {"content-encoding": "deflate"}
    elif encoding == "raw-gzip":  # random bytes claimed to be gzip
        extra = {"content-encoding": "gzip"}
    answer = await _send(deck, body, deck.owner, kind, **extra)
    _check(answer, kind, _recorder(deck))


OTLP_KEYS = ["resourceSpans", "resource_spans", "scopeSpans", "scope_spans", "spans", "scope",
             "resource", "attributes", "key", "value", "traceId", "spanId", "parentSpanId",
             "name", "kind", "status", "code", "message", "events", "timeUnixNano",
             "startTimeUnixNano", "endTimeUnixNano", "stringValue", "intValue", "doubleValue",
             "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values"]  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(["", TRACE, "00000000000000aa", "0" * 32, "AAAAAAAAAAE=", "NaN", "Infinity",
                     "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", "gen_ai.usage.input_tokens",
                     "gen_ai.input.messages", "user.id", "session.id", "-1", "1e3", "0x10",
                     "--1", "²", "1²"]),
    st.from_regex(r"-?[0-9]{1,21}", fullmatch=True),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**65), 2**65), TEXTS,
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip
JUNK = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(OTLP_KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
ANY_VALUE = st.recursive(
    st.one_of(
        st.builds(
            lambda k, v: {k: v},
            st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "bytesValue"]),
            SCALARS,
        ),
        JUNK,
    ),
    lambda inner: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
        st.builds(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(TEXTS, inner), max_size=3),
        ),
    ),
    max_leaves=8,
)
ATTRIBUTES = st.lists(st.fixed_dictionaries({"key": TEXTS, "value": ANY_VALUE}), max_size=4)
EVENT = st.fixed_dictionaries(
    {}, optional={"name": JUNK, "timeUnixNano": JUNK | TEXTS, "attributes": ATTRIBUTES}
)
SPAN_FIELDS = ("traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
               "endTimeUnixNano")  # fmt: skip
SPAN = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(SPAN_FIELDS, JUNK | TEXTS),
        "attributes": ATTRIBUTES | JUNK,
        "status": st.fixed_dictionaries({}, optional={"code": JUNK, "message": JUNK}) | JUNK,
        "events": st.lists(EVENT, max_size=2),
    },
)
DOCUMENT = st.one_of(
    JUNK,
    st.builds(
        lambda resource, spans: {"resourceSpans": [
            {"resource": {"attributes": resource}, "scopeSpans": [{"spans": spans}]}
        ]},
        ATTRIBUTES,
        st.lists(SPAN, max_size=3),
    ),
)  # fmt: skip


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=DOCUMENT, gzipped=st.booleans())
async def test_fuzz_random_json_shapes(deck: Deck, document: Any, gzipped: bool) -> None:
    body = json.dumps(document).encode()  # the stdlib writes integers of any size
    extra = {"content-encoding": "gzip"} if gzipped else {}
    answer = await _send(deck, gzip.compress(body) if gzipped else body, deck.owner, JSON, **extra)
    _check(answer, JSON, _recorder(deck))


def test_a_user_hashed_again_is_hashed_per_tenant() -> None:
    """Hashed ids are remembered (a user sends many spans), per tenant: the same user id in
    two tenants is two people."""
    plain = TracingSettings()
    ingest = OtlpIngest(None, None, plain, lambda model, i, o: None,  # type: ignore[arg-type]
                        Metrics(), 1 << 20, ContentPolicies(plain.content, redactor))  # fmt: skip
    other = Grant("key-2", "tenant-2", "t", "p", "p-1", "pat", "user")
    first, second = ingest.origin(_grant("p")).hash_user, ingest.origin(other).hash_user
    assert first is not None
    assert second is not None
    for _ in range(2):  # hashed, then remembered
        assert first("alice") == hashed_user("tenant-1", "alice")
        assert second("alice") == hashed_user("tenant-2", "alice")
    assert first("alice") != second("alice")
