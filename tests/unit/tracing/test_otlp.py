"""OTLP/HTTP trace payloads: protobuf and JSON (both spellings of field names, hex or base64
ids, enum names or numbers) decoded to the same spans; every AnyValue kind; spans rejected alone
with the partial-success count; whole requests refused naming the field; gzip and deflate with
a size limit."""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus

from agentdeck.errors import PayloadTooLargeError, http_status
from agentdeck.tracing.otlp import (
    JSON,
    MAX_DEPTH,
    PROTOBUF,
    Export,
    OtlpError,
    ReceivedSpan,
    ResourceSpans,
    decode,
    inflate,
    media_type,
    success,
)
from agentdeck.tracing.spans import ROW_COLUMNS, Span

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
PARENT = "00f067aa0ba902b7"
START, END = 1_700_000_000_000_000_000, 1_700_000_001_500_000_000
EVENT_NS = 1_700_000_000_250_000_000
WHERE = "resourceSpans[0].scopeSpans[0].spans[0]"


# --- builders --------------------------------------------------------------------------------


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _pb_request(*spans: PbSpan, resource: dict[str, str] | None = None) -> bytes:
    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    for key, value in (resource or {}).items():
        group.resource.attributes.append(_kv(key, AnyValue(string_value=value)))
    scope_spans = group.scope_spans.add()
    scope_spans.scope.name = "my.library"
    scope_spans.spans.extend(spans)
    return request.SerializeToString()


def _pb_span(
    trace_id: bytes = bytes.fromhex(TRACE),
    span_id: bytes = bytes.fromhex(SPAN),
    attributes: dict[str, AnyValue] | None = None,
    **fields: Any,
) -> PbSpan:
    span = PbSpan(trace_id=trace_id, span_id=span_id, **fields)
    for key, value in (attributes or {}).items():
        span.attributes.append(_kv(key, value))
    return span


def _full_pb_request() -> ExportTraceServiceRequest:
    """One span using every field the decoder reads, and every AnyValue kind."""
    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    group.resource.attributes.extend([
        _kv("service.name", AnyValue(string_value="checkout")),
        _kv("process.pid", AnyValue(int_value=4242)),
    ])  # fmt: skip
    scope_spans = group.scope_spans.add()
    scope_spans.scope.name = "my.library"
    span = scope_spans.spans.add()
    span.trace_id = bytes.fromhex(TRACE)
    span.span_id = bytes.fromhex(SPAN)
    span.parent_span_id = bytes.fromhex(PARENT)
    span.name = "chat gpt-4o"
    span.kind = PbSpan.SPAN_KIND_CLIENT
    span.start_time_unix_nano = START
    span.end_time_unix_nano = END
    span.status.code = PbStatus.STATUS_CODE_ERROR
    span.status.message = "upstream said no"
    array = AnyValue()
    array.array_value.values.extend([AnyValue(int_value=1), AnyValue(string_value="two")])
    kvlist = AnyValue()
    kvlist.kvlist_value.values.extend([
        _kv("role", AnyValue(string_value="user")),
        _kv("ok", AnyValue(bool_value=False)),
    ])  # fmt: skip
    span.attributes.extend([
        _kv("s", AnyValue(string_value="text")),
        _kv("b", AnyValue(bool_value=True)),
        _kv("i", AnyValue(int_value=-(2**63))),
        _kv("big", AnyValue(int_value=2**63 - 1)),
        _kv("d", AnyValue(double_value=1.5)),
        _kv("bytes", AnyValue(bytes_value=b"\x00\x01\xfe")),
        _kv("array", array),
        _kv("kvlist", kvlist),
        _kv("empty", AnyValue()),
    ])  # fmt: skip
    event = span.events.add()
    event.name = "gen_ai.user.message"
    event.time_unix_nano = EVENT_NS
    event.attributes.append(_kv("content", AnyValue(string_value="hello")))
    return request


FULL_SPAN = ReceivedSpan(
    trace_id=TRACE,
    span_id=SPAN,
    parent_span_id=PARENT,
    name="chat gpt-4o",
    kind="client",
    start_ns=START,
    end_ns=END,
    status="error",
    status_message="upstream said no",
    attributes={
        "s": "text",
        "b": True,
        "i": -(2**63),
        "big": 2**63 - 1,
        "d": 1.5,
        "bytes": base64.b64encode(b"\x00\x01\xfe").decode(),
        "array": [1, "two"],
        "kvlist": {"role": "user", "ok": False},
        "empty": None,
    },
    events=[
        {"name": "gen_ai.user.message", "time_ns": EVENT_NS, "attributes": {"content": "hello"}}
    ],
    scope="my.library",
)
FULL_EXPORT = Export(
    [ResourceSpans({"service.name": "checkout", "process.pid": 4242}, [FULL_SPAN])]
)

# The same request as the OTLP/JSON specification writes it: hex ids, enums as numbers,
# 64-bit integers as decimal strings.
FULL_JSON: dict[str, Any] = {
    "resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "process.pid", "value": {"intValue": "4242"}},
        ]},
        "scopeSpans": [{
            "scope": {"name": "my.library"},
            "spans": [{
                "traceId": TRACE,
                "spanId": SPAN,
                "parentSpanId": PARENT,
                "name": "chat gpt-4o",
                "kind": 3,
                "startTimeUnixNano": str(START),
                "endTimeUnixNano": str(END),
                "status": {"code": 2, "message": "upstream said no"},
                "attributes": [
                    {"key": "s", "value": {"stringValue": "text"}},
                    {"key": "b", "value": {"boolValue": True}},
                    {"key": "i", "value": {"intValue": str(-(2**63))}},
                    {"key": "big", "value": {"intValue": 2**63 - 1}},
                    {"key": "d", "value": {"doubleValue": 1.5}},
                    {"key": "bytes", "value": {"bytesValue": "AAH+"}},
                    {"key": "array", "value": {"arrayValue": {"values": [
                        {"intValue": "1"}, {"stringValue": "two"},
                    ]}}},
                    {"key": "kvlist", "value": {"kvlistValue": {"values": [
                        {"key": "role", "value": {"stringValue": "user"}},
                        {"key": "ok", "value": {"boolValue": False}},
                    ]}}},
                    {"key": "empty", "value": {}},
                ],
                "events": [{
                    "name": "gen_ai.user.message",
                    "timeUnixNano": str(EVENT_NS),
                    "attributes": [{"key": "content", "value": {"stringValue": "hello"}}],
                }],
            }],
        }],
    }]
}  # fmt: skip


def _json_doc(span: dict[str, Any]) -> bytes:
    """An OTLP/JSON request holding one span (ids added unless the span names its own)."""
    full = {"traceId": TRACE, "spanId": SPAN, "name": "s", **span}
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [full]}]}]})


def _json_attribute(value: Any) -> Any:
    """The decoded value of one attribute whose OTLP/JSON AnyValue is `value`."""
    export = decode(_json_doc({"attributes": [{"key": "a", "value": value}]}), JSON)
    return export.resources[0].spans[0].attributes["a"]


def _pb_attribute(value: AnyValue) -> Any:
    export = decode(_pb_request(_pb_span(attributes={"a": value})), PROTOBUF)
    return export.resources[0].spans[0].attributes["a"]


def _refusal(body: bytes, kind: str = JSON) -> OtlpError:
    with pytest.raises(OtlpError) as caught:
        decode(body, kind)
    return caught.value


# --- content type and encoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "kind"),
    [("application/x-protobuf", PROTOBUF), ("application/protobuf", PROTOBUF),
     ("application/vnd.google.protobuf", PROTOBUF),
     ("Application/X-Protobuf; proto=opentelemetry", PROTOBUF), ("application/json", JSON),
     ("application/json; charset=utf-8", JSON), (" APPLICATION/JSON ", JSON)],
)  # fmt: skip
def test_media_type_of_the_content_type_header(header: str, kind: str) -> None:
    assert media_type(header) == kind


@pytest.mark.parametrize(
    ("header", "shown"),
    [("text/plain", "'text/plain'"), ("application/jsonl", "'application/jsonl'"),
     ("application/grpc", "'application/grpc'"), (None, "'(none)'"), ("", "'(none)'")],
)  # fmt: skip
def test_an_unsupported_content_type_is_refused_naming_the_header(
    header: str | None, shown: str
) -> None:
    with pytest.raises(OtlpError) as caught:
        media_type(header)
    assert caught.value.message == (
        f"content-type {shown} is not OTLP: send application/x-protobuf or application/json"
    )
    assert caught.value.param == "content-type"


def test_an_unsupported_content_type_is_a_415() -> None:
    with pytest.raises(OtlpError) as caught:
        media_type("text/plain")
    assert http_status(caught.value) == 415


PLAIN = b"x" * 3000 + bytes(range(256))


@pytest.mark.parametrize("encoding", [None, "identity", " Identity "])
def test_no_content_encoding_returns_the_body_untouched(encoding: str | None) -> None:
    assert inflate(PLAIN, encoding, 10) is PLAIN  # the limit is for what inflates


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("GZIP", gzip.compress), (" gzip ", gzip.compress),
     ("deflate", zlib.compress), ("Deflate", zlib.compress)],
)  # fmt: skip
def test_gzip_and_deflate_are_inflated(encoding: str, compress: Any) -> None:
    assert inflate(compress(PLAIN), encoding, len(PLAIN)) == PLAIN


def test_the_limit_is_inclusive() -> None:
    exact = inflate(gzip.compress(PLAIN), "gzip", len(PLAIN))
    assert exact == PLAIN
    with pytest.raises(PayloadTooLargeError) as caught:
        inflate(gzip.compress(PLAIN), "gzip", len(PLAIN) - 1)
    assert http_status(caught.value) == 413
    assert caught.value.message == f"body inflates past the limit of {len(PLAIN) - 1} bytes"
    assert caught.value.param == "body"


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_a_compression_bomb_is_a_413_without_inflating_it_whole(
    encoding: str, compress: Any
) -> None:
    bomb = compress(bytes(50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < 100 * 1024
    with pytest.raises(PayloadTooLargeError) as caught:
        inflate(bomb, encoding, 1024 * 1024)
    assert http_status(caught.value) == 413
    assert caught.value.message == "body inflates past the limit of 1048576 bytes"


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_truncated_compressed_data_is_a_400(encoding: str, compress: Any) -> None:
    whole = compress(PLAIN)
    with pytest.raises(OtlpError) as caught:
        inflate(whole[: len(whole) // 2], encoding, 1 << 20)
    assert http_status(caught.value) == 400
    assert caught.value.message == f"body is truncated {encoding} data"
    assert caught.value.param == "body"


def test_an_empty_gzip_body_is_truncated() -> None:
    with pytest.raises(OtlpError) as caught:
        inflate(b"", "gzip", 1 << 20)
    assert caught.value.message == "body is truncated gzip data"


@pytest.mark.parametrize("body", [b"not gzip at all", b"\x1f\x8b\x08\x00garbage-after-header"])
def test_data_that_is_not_gzip_is_a_400(body: bytes) -> None:
    with pytest.raises(OtlpError) as caught:
        inflate(body, "gzip", 1 << 20)
    assert http_status(caught.value) == 400
    assert caught.value.message.startswith("body is not valid gzip: Error -3")
    assert caught.value.param == "body"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "x-gzip"])
def test_an_unsupported_content_encoding_is_refused_naming_the_header(encoding: str) -> None:
    with pytest.raises(OtlpError) as caught:
        inflate(gzip.compress(PLAIN), encoding, 1 << 20)
    assert http_status(caught.value) == 400
    assert caught.value.message == (
        f"content-encoding {encoding!r} is not supported: send gzip, deflate or none"
    )
    assert caught.value.param == "content-encoding"


def test_every_member_of_a_multi_member_gzip_body_is_inflated() -> None:
    first = _pb_request(_pb_span(span_id=bytes.fromhex(SPAN)))
    second = _pb_request(_pb_span(span_id=bytes.fromhex(PARENT)))
    body = gzip.compress(first) + gzip.compress(second)
    assert gzip.decompress(body) == first + second
    plain = inflate(body, "gzip", 1 << 20)
    assert plain == first + second
    spans = [s.span_id for group in decode(plain, PROTOBUF).resources for s in group.spans]
    assert spans == [SPAN, PARENT]  # concatenated protobuf messages merge


# --- one request, three spellings ------------------------------------------------------------


def test_a_protobuf_request_is_read_whole() -> None:
    export = decode(_full_pb_request().SerializeToString(), PROTOBUF)
    assert export == FULL_EXPORT
    assert export.span_count == 1
    assert (export.rejected, export.reason) == (0, None)


def test_the_otlp_json_form_decodes_to_the_same_spans() -> None:
    assert decode(orjson.dumps(FULL_JSON), JSON) == FULL_EXPORT


def test_protobufs_generic_json_mapping_decodes_to_the_same_spans() -> None:
    """`MessageToDict` writes ids in base64, enums by name and 64-bit integers as strings."""
    document = MessageToDict(_full_pb_request())
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == base64.b64encode(bytes.fromhex(TRACE)).decode()
    assert span["kind"] == "SPAN_KIND_CLIENT"
    assert span["status"]["code"] == "STATUS_CODE_ERROR"
    assert span["startTimeUnixNano"] == str(START)
    assert decode(orjson.dumps(document), JSON) == FULL_EXPORT


def test_snake_case_field_names_decode_to_the_same_spans() -> None:
    document = MessageToDict(_full_pb_request(), preserving_proto_field_name=True)
    span = document["resource_spans"][0]["scope_spans"][0]["spans"][0]
    assert {"trace_id", "span_id", "parent_span_id", "start_time_unix_nano"} <= set(span)
    assert "int_value" in orjson.dumps(document).decode()
    assert decode(orjson.dumps(document), JSON) == FULL_EXPORT


def test_hand_written_snake_case_values_and_event_times() -> None:
    span = {
        "trace_id": TRACE,
        "span_id": SPAN,
        "parent_span_id": PARENT,
        "start_time_unix_nano": START,
        "end_time_unix_nano": str(END),
        "attributes": [
            {"key": "s", "value": {"string_value": "v"}},
            {"key": "b", "value": {"bool_value": True}},
            {"key": "i", "value": {"int_value": "-7"}},
            {"key": "d", "value": {"double_value": 2}},
            {"key": "y", "value": {"bytes_value": "AAE="}},
            {"key": "a", "value": {"array_value": {"values": [{"int_value": 1}]}}},
            {"key": "k", "value": {"kvlist_value": {"values": [
                {"key": "x", "value": {"string_value": "y"}}]}}},
        ],
        "events": [{"name": "e", "time_unix_nano": "5", "attributes": []}],
    }  # fmt: skip
    body = orjson.dumps({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]})
    (received,) = decode(body, JSON).resources[0].spans
    assert (received.trace_id, received.span_id, received.parent_span_id) == (TRACE, SPAN, PARENT)
    assert (received.start_ns, received.end_ns) == (START, END)
    assert received.attributes == {
        "s": "v", "b": True, "i": -7, "d": 2.0, "y": "AAE=", "a": [1], "k": {"x": "y"}
    }  # fmt: skip
    assert isinstance(received.attributes["d"], float)
    assert received.events == [{"name": "e", "time_ns": 5, "attributes": {}}]


def test_the_older_instrumentation_library_names_are_read() -> None:
    body = orjson.dumps({
        "resourceSpans": [{"instrumentationLibrarySpans": [{
            "instrumentationLibrary": {"name": "legacy.lib"},
            "spans": [{"traceId": TRACE, "spanId": SPAN, "name": "old"}],
        }]}]
    })  # fmt: skip
    (received,) = decode(body, JSON).resources[0].spans
    assert (received.name, received.scope) == ("old", "legacy.lib")


def test_defaults_of_a_minimal_span() -> None:
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE, "spanId": SPAN}]}]}]})  # fmt: skip
    assert decode(body, JSON) == Export([
        ResourceSpans({}, [ReceivedSpan(TRACE, SPAN, None, "", "internal", 0, 0, "unset", None,
                                        {}, [], None)])
    ])  # fmt: skip
    pb = decode(_pb_request(_pb_span()), PROTOBUF)
    assert pb.resources[0].spans[0] == ReceivedSpan(
        TRACE, SPAN, None, "", "internal", 0, 0, "unset", None, {}, [], "my.library"
    )


@pytest.mark.parametrize("body", [b"", b"{}", b'{"resourceSpans": []}'])
def test_an_empty_request_has_no_spans(body: bytes) -> None:
    kind = PROTOBUF if body == b"" else JSON
    export = decode(body, kind)
    assert export == Export([])
    assert export.span_count == 0


def test_resources_are_kept_apart_and_an_empty_one_is_left_out() -> None:
    request = ExportTraceServiceRequest()
    for n, service in enumerate(("a", "b", "c")):
        group = request.resource_spans.add()
        group.resource.attributes.append(_kv("service.name", AnyValue(string_value=service)))
        if service != "b":
            group.scope_spans.add().spans.append(_pb_span(span_id=bytes([n + 1] * 8)))
    export = decode(request.SerializeToString(), PROTOBUF)
    assert [group.resource for group in export.resources] == [
        {"service.name": "a"}, {"service.name": "c"}
    ]  # fmt: skip
    assert [g.spans[0].span_id for g in export.resources] == ["01" * 8, "03" * 8]


# --- enums -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "name", "kind"),
    [(0, "SPAN_KIND_UNSPECIFIED", "internal"), (1, "SPAN_KIND_INTERNAL", "internal"),
     (2, "SPAN_KIND_SERVER", "server"), (3, "SPAN_KIND_CLIENT", "client"),
     (4, "SPAN_KIND_PRODUCER", "producer"), (5, "SPAN_KIND_CONSUMER", "consumer")],
)  # fmt: skip
def test_span_kinds_by_number_and_by_name(number: int, name: str, kind: str) -> None:
    assert PbSpan.SpanKind.Value(name) == number
    by_pb = decode(_pb_request(_pb_span(kind=number)), PROTOBUF).resources[0].spans[0]
    by_number = decode(_json_doc({"kind": number}), JSON).resources[0].spans[0]
    by_name = decode(_json_doc({"kind": name}), JSON).resources[0].spans[0]
    assert by_pb.kind == by_number.kind == by_name.kind == kind


@pytest.mark.parametrize(
    ("number", "name", "status"),
    [(0, "STATUS_CODE_UNSET", "unset"), (1, "STATUS_CODE_OK", "ok"),
     (2, "STATUS_CODE_ERROR", "error")],
)  # fmt: skip
def test_status_codes_by_number_and_by_name(number: int, name: str, status: str) -> None:
    assert PbStatus.StatusCode.Value(name) == number
    pb_span = _pb_span(status=PbStatus(code=number, message="m"))  # type: ignore[arg-type]
    by_pb = decode(_pb_request(pb_span), PROTOBUF).resources[0].spans[0]
    by_number = decode(_json_doc({"status": {"code": number, "message": "m"}}), JSON)
    by_name = decode(_json_doc({"status": {"code": name, "message": "m"}}), JSON)
    for span in (by_pb, by_number.resources[0].spans[0], by_name.resources[0].spans[0]):
        assert (span.status, span.status_message) == (status, "m")


def test_unknown_enum_numbers_fall_back() -> None:
    pb = decode(_pb_request(_pb_span(kind=9, status=PbStatus(code=7))), PROTOBUF)  # type: ignore[arg-type]
    assert (pb.resources[0].spans[0].kind, pb.resources[0].spans[0].status) == (
        "internal", "unset"
    )  # fmt: skip
    for kind, code in ((9, 7), (-1, -1)):
        span = (
            decode(_json_doc({"kind": kind, "status": {"code": code}}), JSON).resources[0].spans[0]
        )
        assert (span.kind, span.status) == ("internal", "unset")


@pytest.mark.parametrize(
    ("span", "field", "shown"),
    [({"kind": "SPAN_KIND_WEIRD"}, "kind", "'SPAN_KIND_WEIRD'"),
     ({"kind": "client"}, "kind", "'client'"), ({"kind": True}, "kind", "True"),
     ({"kind": 3.0}, "kind", "3.0"), ({"status": {"code": "ERROR"}}, "status.code", "'ERROR'"),
     ({"status": {"code": [2]}}, "status.code", "[2]")],
)  # fmt: skip
def test_an_unknown_enum_name_refuses_the_request_naming_the_field(
    span: dict[str, Any], field: str, shown: str
) -> None:
    error = _refusal(_json_doc(span))
    assert error.message == f"{WHERE}.{field} is not a known enum value: {shown}"
    assert error.param == "body"
    assert http_status(error) == 400


# --- AnyValue kinds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"stringValue": "héllo ✓"}, "héllo ✓"),
        ({"stringValue": ""}, ""),
        ({"boolValue": True}, True),
        ({"boolValue": False}, False),
        ({"intValue": 42}, 42),
        ({"intValue": "42"}, 42),
        ({"intValue": "-42"}, -42),
        ({"intValue": "9223372036854775807"}, 2**63 - 1),
        ({"intValue": "-9223372036854775808"}, -(2**63)),
        ({"doubleValue": 0.25}, 0.25),
        ({"doubleValue": -3}, -3.0),
        ({"doubleValue": "NaN"}, "NaN"),
        ({"doubleValue": "Infinity"}, "Infinity"),
        ({"doubleValue": "-Infinity"}, "-Infinity"),
        ({"bytesValue": "AAH+"}, "AAH+"),
        ({"arrayValue": {"values": []}}, []),
        ({"arrayValue": {}}, []),
        ({"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}, {}]}},
         ["a", True, None]),
        ({"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "1"}},
                                     {"key": "none"}]}}, {"n": 1, "none": None}),
        ({"kvlistValue": {}}, {}),
        ({}, None),
        (None, None),
        ({"somethingNew": 1}, None),
        ({"somethingNew": 1, "stringValue": "later key"}, "later key"),
    ],
)  # fmt: skip
def test_json_any_values(value: Any, expected: Any) -> None:
    found = _json_attribute(value)
    assert found == expected
    assert type(found) is type(expected)


def test_a_missing_value_is_none() -> None:
    export = decode(_json_doc({"attributes": [{"key": "a"}]}), JSON)
    assert export.resources[0].spans[0].attributes == {"a": None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(AnyValue(string_value="héllo ✓"), "héllo ✓"), (AnyValue(bool_value=False), False),
     (AnyValue(int_value=-(2**63)), -(2**63)), (AnyValue(int_value=2**63 - 1), 2**63 - 1),
     (AnyValue(double_value=0.25), 0.25), (AnyValue(bytes_value=b"\xff\x00"), "/wA="),
     (AnyValue(bytes_value=b""), ""), (AnyValue(), None)],
)  # fmt: skip
def test_protobuf_any_values(value: AnyValue, expected: Any) -> None:
    found = _pb_attribute(value)
    assert found == expected
    assert type(found) is type(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [({"stringValue": 5}, "stringValue is not a str"),
     ({"stringValue": None}, "stringValue is not a str"),
     ({"boolValue": "true"}, "boolValue is not a bool"),
     ({"boolValue": 1}, "boolValue is not a bool"),
     ({"intValue": 1.5}, "intValue is not an integer"),
     ({"intValue": "1.5"}, "intValue is not an integer"),
     ({"intValue": "0x10"}, "intValue is not an integer"),
     ({"intValue": True}, "intValue is not an integer"),
     ({"intValue": "-"}, "intValue is not an integer"),
     ({"intValue": str(2**63)}, "intValue is beyond 64 bits"),
     ({"intValue": str(-(2**63) - 1)}, "intValue is beyond 64 bits"),
     ({"doubleValue": "nan"}, "doubleValue is not a number"),
     ({"doubleValue": True}, "doubleValue is not a number"),
     ({"bytesValue": 7}, "bytesValue is not a str"),
     ({"arrayValue": []}, "arrayValue is not a JSON object"),
     ({"arrayValue": {"values": {"a": 1}}}, "arrayValue.values is not an array"),
     ({"kvlistValue": "x"}, "kvlistValue is not a JSON object"),
     ("plain string", "is not an AnyValue object"),
     ([{"stringValue": "x"}], "is not an AnyValue object")],
)  # fmt: skip
def test_a_wrongly_typed_value_refuses_the_request_naming_it(value: Any, message: str) -> None:
    error = _refusal(_json_doc({"attributes": [{"key": "a", "value": value}]}))
    separator = " " if message.startswith("is ") else "."
    assert error.message == f"{WHERE}.attributes[0].value{separator}{message}"
    assert error.param == "body"


def test_a_wrongly_typed_value_inside_an_array_is_named_by_its_path() -> None:
    value = {"arrayValue": {"values": [{"stringValue": "ok"}, {"intValue": "x"}]}}
    error = _refusal(_json_doc({"attributes": [{"key": "a", "value": value}]}))
    assert error.message == (
        f"{WHERE}.attributes[0].value.arrayValue.values[1].intValue is not an integer"
    )


def test_a_wrongly_typed_value_inside_a_kvlist_is_named_by_its_path() -> None:
    value = {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": "no"}}]}}
    error = _refusal(_json_doc({"attributes": [{"key": "a", "value": value}]}))
    assert error.message == (
        f"{WHERE}.attributes[0].value.kvlistValue.values[0].value.boolValue is not a bool"
    )


def test_an_int_with_two_minus_signs_is_refused_as_not_an_integer() -> None:
    error = _refusal(_json_doc({"attributes": [{"key": "a", "value": {"intValue": "--5"}}]}))
    assert error.message == f"{WHERE}.attributes[0].value.intValue is not an integer"


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ({"attributes": [{"key": "a", "value": {"intValue": "²"}}]},
         f"{WHERE}.attributes[0].value.intValue is not an integer"),
        ({"startTimeUnixNano": "²"}, f"{WHERE}.startTimeUnixNano is not an unsigned integer"),
        ({"endTimeUnixNano": "1²"}, f"{WHERE}.endTimeUnixNano is not an unsigned integer"),
    ],
)  # fmt: skip
def test_a_non_ascii_digit_is_refused_as_not_an_integer(span: dict[str, Any], message: str) -> None:
    assert _refusal(_json_doc(span)).message == message


def test_nan_and_infinities_are_kept_alike_from_protobuf_and_json() -> None:
    for number, name in ((float("nan"), "NaN"), (float("inf"), "Infinity"),
                         (float("-inf"), "-Infinity")):  # fmt: skip
        assert _json_attribute({"doubleValue": name}) == name
        assert _pb_attribute(AnyValue(double_value=number)) == name


def test_protobuf_nan_and_infinities_are_kept_as_text() -> None:
    """Whatever their spelling, they are strings: JSON storage has no NaN or infinity."""
    for number in (float("nan"), float("inf"), float("-inf")):
        found = _pb_attribute(AnyValue(double_value=number))
        assert isinstance(found, str)
        assert float(found) != float(found) or abs(float(found)) == float("inf")
    assert orjson.loads(orjson.dumps(_json_attribute({"doubleValue": "NaN"}))) == "NaN"


def _pb_nested(levels: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for _ in range(levels):
        wrapped = AnyValue()
        wrapped.array_value.values.append(value)
        value = wrapped
    return value


def _json_nested(levels: int, wrap: str = "arrayValue") -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(levels):
        if wrap == "arrayValue":
            value = {"arrayValue": {"values": [value]}}
        else:
            value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def _lists(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


def _dicts(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = {"k": leaf}
    return leaf


def test_nesting_is_cut_at_the_depth_cap_in_both_formats() -> None:
    assert MAX_DEPTH == 8
    assert _pb_attribute(_pb_nested(8)) == _lists(8, "leaf")
    assert _json_attribute(_json_nested(8)) == _lists(8, "leaf")
    # The ninth container sits at depth 8 and is dropped.
    assert _pb_attribute(_pb_nested(9)) == _lists(8, None)
    assert _json_attribute(_json_nested(9)) == _lists(8, None)
    assert _pb_attribute(_pb_nested(30)) == _lists(8, None)
    assert _json_attribute(_json_nested(30)) == _lists(8, None)


def test_key_value_lists_are_cut_at_the_depth_cap_in_protobuf() -> None:
    value = AnyValue(string_value="leaf")
    for _ in range(9):
        wrapped = AnyValue()
        wrapped.kvlist_value.values.append(_kv("k", value))
        value = wrapped
    assert _pb_attribute(value) == _dicts(8, None)


def test_key_value_lists_are_cut_at_the_depth_cap_in_json() -> None:
    assert _json_attribute(_json_nested(9, "kvlistValue")) == _dicts(8, None)


def _interleaved(levels: int) -> bytes:
    """A JSON span whose attribute nests a key-value list in two arrays, `levels` times."""
    value = '{"stringValue":"leaf"}'
    for _ in range(levels):
        value = '{"kvlistValue":{"values":[{"key":"k","value":' + value + "}]}}"
        value = '{"arrayValue":{"values":[{"arrayValue":{"values":[' + value + "]}}]}}"
    span = f'{{"traceId":"{TRACE}","spanId":"{SPAN}","attributes":[{{"key":"a","value":{value}}}]}}'
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + span + "]}]}]}").encode()


def test_every_decoded_span_can_be_stored() -> None:
    body = _interleaved(100)
    assert len(body) < 12_000
    (received,) = decode(body, JSON).resources[0].spans
    stored = Span(tenant_id="t", trace_id=received.trace_id, span_id=received.span_id,
                  name="deep", start_ns=0, end_ns=0, attributes=received.attributes)  # fmt: skip
    assert len(stored.values()) == len(ROW_COLUMNS)


# --- ids, and spans rejected alone -----------------------------------------------------------


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (TRACE, SPAN),
        (TRACE.upper(), SPAN.upper()),
        (
            base64.b64encode(bytes.fromhex(TRACE)).decode(),
            base64.b64encode(bytes.fromhex(SPAN)).decode(),
        ),
    ],
)
def test_json_ids_in_hex_or_base64(trace_id: str, span_id: str) -> None:
    body = _json_doc({"traceId": trace_id, "spanId": span_id, "parentSpanId": span_id})
    (received,) = decode(body, JSON).resources[0].spans
    assert (received.trace_id, received.span_id, received.parent_span_id) == (TRACE, SPAN, SPAN)


def test_an_empty_parent_id_is_a_root() -> None:
    (received,) = decode(_json_doc({"parentSpanId": ""}), JSON).resources[0].spans
    assert received.parent_span_id is None


def test_an_all_zero_protobuf_parent_is_a_root() -> None:
    export = decode(_pb_request(_pb_span(parent_span_id=bytes(8))), PROTOBUF)
    assert export.rejected == 0
    assert export.resources[0].spans[0].parent_span_id is None


@pytest.mark.parametrize("parent", ["0" * 16, "AAAAAAAAAAA="])
def test_an_all_zero_json_parent_is_a_root(parent: str) -> None:
    export = decode(_json_doc({"parentSpanId": parent}), JSON)
    assert (export.rejected, export.span_count) == (0, 1)
    assert export.resources[0].spans[0].parent_span_id is None


@pytest.mark.parametrize(
    ("trace_id", "span_id", "parent", "reason"),
    [
        (bytes(15) + b"\x01", None, None, None),  # control: a valid span
        (b"\x01" * 15, None, None, "traceId has 15 bytes, not 16"),
        (b"\x01" * 17, None, None, "traceId has 17 bytes, not 16"),
        (b"", None, None, "traceId has 0 bytes, not 16"),
        (bytes(16), None, None, "traceId is all zeros"),
        (None, b"\x01" * 7, None, "spanId has 7 bytes, not 8"),
        (None, b"", None, "spanId has 0 bytes, not 8"),
        (None, bytes(8), None, "spanId is all zeros"),
        (None, None, b"\x01" * 4, "parentSpanId has 4 bytes, not 8"),
        (None, None, b"\x01" * 16, "parentSpanId has 16 bytes, not 8"),
    ],
)
def test_a_protobuf_span_with_a_bad_id_is_rejected_alone(
    trace_id: bytes | None, span_id: bytes | None, parent: bytes | None, reason: str | None
) -> None:
    bad = _pb_span(
        trace_id=bytes.fromhex(TRACE) if trace_id is None else trace_id,
        span_id=b"\x02" * 8 if span_id is None else span_id,
        parent_span_id=parent or b"",
        name="bad",
    )
    good = _pb_span(name="good")
    export = decode(_pb_request(good, bad, good), PROTOBUF)
    if reason is None:
        assert (export.span_count, export.rejected, export.reason) == (3, 0, None)
        return
    assert [span.name for span in export.resources[0].spans] == ["good", "good"]
    assert export.rejected == 1
    assert export.reason == f"resourceSpans[0].scopeSpans[0].spans[1]: {reason}"


@pytest.mark.parametrize(
    ("fields", "which"),
    [({"traceId": TRACE[:-2]}, "traceId"), ({"traceId": TRACE + "00"}, "traceId"),
     ({"traceId": "zz" + TRACE[2:]}, "traceId"), ({"traceId": "0" * 32}, "traceId"),
     ({"traceId": base64.b64encode(bytes(16)).decode()}, "traceId"),
     ({"traceId": base64.b64encode(b"\x01" * 15).decode()}, "traceId"),
     ({"traceId": 12345}, "traceId"), ({"traceId": ""}, "traceId"), ({"traceId": None}, "traceId"),
     ({"spanId": "0" * 16}, "spanId"), ({"spanId": SPAN[:8]}, "spanId"),
     ({"spanId": "-_" * 6}, "spanId"), ({"spanId": None}, "spanId"),
     ({"parentSpanId": "abc"}, "parentSpanId"), ({"parentSpanId": TRACE}, "parentSpanId"),
     ({"parentSpanId": 7}, "parentSpanId")],
)  # fmt: skip
def test_a_json_span_with_a_bad_id_is_rejected_alone(fields: dict[str, Any], which: str) -> None:
    good = {"traceId": TRACE, "spanId": SPAN, "name": "good"}
    bad = {**good, "name": "bad", **fields}
    bad = {key: value for key, value in bad.items() if value is not None}
    body = orjson.dumps({"resourceSpans": [
        {"scopeSpans": [{"spans": [good]}, {"spans": [good, bad]}]},
        {"scopeSpans": [{"spans": [bad]}]},
    ]})  # fmt: skip
    export = decode(body, JSON)
    assert [s.name for group in export.resources for s in group.spans] == ["good", "good"]
    assert len(export.resources) == 1  # the second resource has no usable span left
    assert export.rejected == 2
    assert export.reason == (
        f"resourceSpans[0].scopeSpans[1].spans[1]: {which} is not a valid id "
        "(hex or base64 of the right length)"
    )


def test_partial_success_responses_in_both_formats() -> None:
    bad = _pb_span(span_id=bytes(8))
    export = decode(_pb_request(bad, _pb_span(), bad), PROTOBUF)
    assert (export.span_count, export.rejected) == (1, 2)
    reason = "resourceSpans[0].scopeSpans[0].spans[0]: spanId is all zeros"
    assert export.reason == reason

    response = ExportTraceServiceResponse.FromString(success(PROTOBUF, export))
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == reason

    assert orjson.loads(success(JSON, export)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": reason}
    }


def test_full_success_responses_in_both_formats() -> None:
    export = decode(_pb_request(_pb_span()), PROTOBUF)
    assert success(PROTOBUF, export) == b""
    assert not ExportTraceServiceResponse.FromString(b"").HasField("partial_success")
    assert success(JSON, export) == b"{}"


# --- whole requests refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x05ab",  # a length-delimited field longer than the body
        b"\xff\xff\xff",
        b"hello",
        b'{"resourceSpans": []}',  # JSON sent as protobuf
        _pb_request(_pb_span())[:-3],
    ],
)
def test_a_body_that_is_not_protobuf_is_refused(body: bytes) -> None:
    error = _refusal(body, PROTOBUF)
    assert error.message.startswith(
        "body is not an OTLP protobuf ExportTraceServiceRequest: Error parsing message"
    )
    assert http_status(error) == 400


def test_protobuf_with_invalid_utf8_in_a_string_is_refused() -> None:
    good = _pb_request(_pb_span(name="ab"))
    body = good.replace(b"\x2a\x02ab", b"\x2a\x02\xff\xfe")  # field 5 (name), 2 bytes
    assert body != good
    assert _refusal(body, PROTOBUF).message.startswith(
        "body is not an OTLP protobuf ExportTraceServiceRequest"
    )


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"", b"resourceSpans", b'{"a": 1} x'])
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    error = _refusal(body)
    assert error.message.startswith("body is not JSON: ")
    assert http_status(error) == 400


def _scoped(spans: Any) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "body is not a JSON object"),
        (b'"resourceSpans"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
        (b'{"resourceSpans": {}}', "body.resourceSpans is not a JSON array"),
        (b'{"resource_spans": "x"}', "body.resourceSpans is not a JSON array"),
        (b'{"resourceSpans": [1]}', "body.resourceSpans[0] is not a JSON object"),
        (b'{"resourceSpans": [{"resource": "svc"}]}',
         "resourceSpans[0].resource is not a JSON object"),
        (b'{"resourceSpans": [{"resource": {"attributes": {}}}]}',
         "resourceSpans[0].resource.attributes is not a JSON array"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]}',
         "resourceSpans[0].resource.attributes[0].key is not a string"),
        (b'{"resourceSpans": [{"scopeSpans": {}}]}',
         "resourceSpans[0].scopeSpans is not a JSON array"),
        (b'{"resourceSpans": [{"scopeSpans": [[]]}]}',
         "resourceSpans[0].scopeSpans[0] is not a JSON object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"scope": "lib"}]}]}',
         "resourceSpans[0].scopeSpans[0].scope is not a JSON object"),
        (_scoped({"traceId": TRACE}), "resourceSpans[0].scopeSpans[0].spans is not a JSON array"),
        (_scoped(["span"]), "resourceSpans[0].scopeSpans[0].spans[0] is not a JSON object"),
        (_json_doc({"name": 5}), f"{WHERE}.name is not a string"),
        (_json_doc({"name": ["a"]}), f"{WHERE}.name is not a string"),
        (_json_doc({"status": "error"}), f"{WHERE}.status is not a JSON object"),
        (_json_doc({"status": {"message": 5}}), f"{WHERE}.status.message is not a string"),
        (_json_doc({"startTimeUnixNano": "soon"}),
         f"{WHERE}.startTimeUnixNano is not an unsigned integer"),
        (_json_doc({"startTimeUnixNano": "-1"}),
         f"{WHERE}.startTimeUnixNano is not an unsigned integer"),
        (_json_doc({"endTimeUnixNano": 1.7e18}),
         f"{WHERE}.endTimeUnixNano is not an unsigned integer"),
        (_json_doc({"endTimeUnixNano": True}),
         f"{WHERE}.endTimeUnixNano is not an unsigned integer"),
        (_json_doc({"end_time_unix_nano": str(2**64)}),
         f"{WHERE}.endTimeUnixNano is beyond 64 bits"),
        (_json_doc({"attributes": {"a": 1}}), f"{WHERE}.attributes is not a JSON array"),
        (_json_doc({"attributes": ["a"]}), f"{WHERE}.attributes[0] is not a JSON object"),
        (_json_doc({"attributes": [{"value": {"stringValue": "x"}}]}),
         f"{WHERE}.attributes[0].key is not a string"),
        (_json_doc({"events": {}}), f"{WHERE}.events is not a JSON array"),
        (_json_doc({"events": [None]}), f"{WHERE}.events[0] is not a JSON object"),
        (_json_doc({"events": [{"timeUnixNano": "later"}]}),
         f"{WHERE}.events[0] is not an unsigned integer"),
        (_json_doc({"events": [{"attributes": [{"key": None}]}]}),
         f"{WHERE}.events[0].attributes[0].key is not a string"),
    ],
)  # fmt: skip
def test_a_structural_problem_refuses_the_request_naming_the_field(
    body: bytes, message: str
) -> None:
    error = _refusal(body)
    assert error.message == message
    assert error.param == "body"
    assert http_status(error) == 400


@pytest.mark.parametrize("field", ["startTimeUnixNano", "endTimeUnixNano"])
def test_a_negative_time_number_is_refused(field: str) -> None:
    error = _refusal(_json_doc({field: -1}))
    assert error.message == f"{WHERE}.{field} is not an unsigned integer"


def test_a_refusal_anywhere_refuses_the_spans_before_it_too() -> None:
    body = orjson.dumps({"resourceSpans": [
        {"scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": SPAN}]}]},
        {"scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": SPAN, "kind": "nope"}]}]},
    ]})  # fmt: skip
    assert _refusal(body).message == (
        "resourceSpans[1].scopeSpans[0].spans[0].kind is not a known enum value: 'nope'"
    )


def test_times_are_read_exactly_up_to_the_stores_range() -> None:
    """Up to 2**63 - 1, what the stores' signed 64-bit columns hold; beyond it see
    test_a_span_the_store_refuses_does_not_stop_later_spans in tests/unit/api."""
    top = 2**63 - 1
    (received,) = decode(_json_doc({"startTimeUnixNano": 0, "endTimeUnixNano": str(top)}),
                         JSON).resources[0].spans  # fmt: skip
    assert (received.start_ns, received.end_ns) == (0, top)
    pb = decode(_pb_request(_pb_span(start_time_unix_nano=top)), PROTOBUF)
    assert pb.resources[0].spans[0].start_ns == top


# --- protobuf attributes read by hand ---------------------------------------------------------
# An attribute of the common shape (a key, one scalar) is read from its bytes, not through the
# generated classes; whatever its bytes, it must read as the generated classes read it.


def _reference(body: bytes) -> list[dict[str, Any]]:
    """The attributes of every span of a request, read through the generated classes."""

    def value(any_value: AnyValue) -> Any:
        kind = any_value.WhichOneof("value")
        if kind == "bytes_value":
            return base64.b64encode(any_value.bytes_value).decode()
        if kind == "double_value":
            number = any_value.double_value
            if number != number:
                return "NaN"
            if abs(number) == float("inf"):
                return "Infinity" if number > 0 else "-Infinity"
            return number
        return getattr(any_value, kind) if kind else None

    request = ExportTraceServiceRequest.FromString(body)
    return [
        {pair.key: value(pair.value) for pair in span.attributes}
        for group in request.resource_spans
        for scope in group.scope_spans
        for span in scope.spans
    ]


def _decoded(body: bytes) -> list[dict[str, Any]]:
    export = decode(body, PROTOBUF)
    return [span.attributes for group in export.resources for span in group.spans]


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        out.append((number & 0x7F) | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _with_raw_attribute(raw: bytes) -> bytes:
    """A request of one span (ids and a name) carrying `raw` as a serialized KeyValue."""
    span = _pb_span(name="s").SerializeToString() + _field(9, raw)
    return _field(1, _field(2, _field(2, span)))  # resourceSpans.scopeSpans.spans


_SCALARS = st.one_of(
    st.text(max_size=300).map(lambda text: AnyValue(string_value=text)),
    st.integers(-(2**63), 2**63 - 1).map(lambda number: AnyValue(int_value=number)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda d: AnyValue(double_value=d)),
    st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
    st.just(AnyValue()),
)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.text(max_size=200), _SCALARS), max_size=12))
def test_scalar_attributes_read_as_the_generated_classes_read_them(
    pairs: list[tuple[str, AnyValue]],
) -> None:
    span = _pb_span()
    span.attributes.extend(_kv(key, value) for key, value in pairs)
    body = _pb_request(span)
    assert _decoded(body) == _reference(body)
    assert _decoded(body) == _reference(body)  # again, from what was remembered


@pytest.mark.parametrize(
    "raw",
    [
        _field(2, b"\x0a\x01v") + _field(1, b"k"),  # the value before the key
        _field(1, b"k") + _field(1, b"j") + _field(2, b"\x0a\x01v"),  # the key twice
        _field(1, b"k") + _field(2, b"\x0a\x01v") + _field(2, b"\x18\x05"),  # the value twice
        _field(1, b"k") + _field(2, b"\x10\x02"),  # a bool written as 2
        _field(1, b"k") + _field(2, b"\x18\x85\x80\x00"),  # an int in more bytes than needed
        _field(1, b"k") + _field(2, b"\x0a\x01v\x18\x07"),  # two values in one AnyValue
        _field(1, b"k") + _field(2, b"\x0a\x01v") + b"\x18\x01",  # an unknown field after
        _field(1, b"k") + _field(2, b"\x3a\x02\x00\x01"),  # bytes_value
        _field(1, b"k" * 200) + _field(2, b"\x0a" + _varint(300) + b"v" * 300),  # long ones
        _field(1, b"k") + _field(2, b"\x0a" + _varint(20_000) + b"v" * 20_000),  # 3-byte size
        _field(2, b"\x0a\x01v"),  # no key
        _field(1, b"k"),  # no value
        _field(1, b"k") + _field(2, b""),  # an empty value
        b"",  # nothing at all
    ],
)
def test_unusual_attribute_bytes_read_as_the_generated_classes_read_them(raw: bytes) -> None:
    body = _with_raw_attribute(raw)
    assert _decoded(body) == _reference(body)


@pytest.mark.parametrize(
    "raw",
    [
        _field(1, b"k") + _field(2, b"\x0a\x05v"),  # a string longer than its value
        _field(1, b"k") + b"\x12\x05\x0a\x01",  # a value longer than the attribute
        _field(1, b"\xff\xfe") + _field(2, b"\x0a\x01v"),  # a key that is not UTF-8
        _field(1, b"k") + _field(2, b"\x0a\x02\xc3\x28"),  # a value that is not UTF-8
        _field(1, b"k") + _field(2, b"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    ],
)
def test_malformed_attribute_bytes_refuse_the_request(raw: bytes) -> None:
    body = _with_raw_attribute(raw)
    with pytest.raises(DecodeError):  # as the generated classes find them
        ExportTraceServiceRequest.FromString(body)
    assert _refusal(body, PROTOBUF).message.startswith(
        "body is not an OTLP protobuf ExportTraceServiceRequest: Error parsing message"
    )


def test_each_span_gets_attributes_of_its_own() -> None:
    body = _pb_request(*(_pb_span(span_id=bytes([0, n + 1] * 4), attributes={
        "model": AnyValue(string_value="gpt-4o"), "port": AnyValue(int_value=443),
    }) for n in range(2)))  # fmt: skip
    first, second = _decoded(body)
    first["model"] = "changed"
    assert second == {"model": "gpt-4o", "port": 443}
    assert _decoded(body)[0] == {"model": "gpt-4o", "port": 443}
