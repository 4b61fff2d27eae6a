"""OTLP/protobuf trace requests read into `ReceivedSpan`s.

upb parses the request against a lean copy of the OTLP schema in which each attribute
(`KeyValue`) and a span's status stay serialized bytes. Reading an attribute through the
generated classes builds a Python object for the pair and one for its value, about 0.8 µs an
attribute and two thirds of decoding a span; the bytes of an attribute of the common shape (a
key and one scalar) are read here instead, and the rest through the generated classes. The
same bytes recur from span to span (model, provider, operation, server), so what they read as
is remembered, a bounded number of them.

Strings are checked as UTF-8 when they are read, as upb checks them when it parses, so a
request with a malformed attribute is refused whole, with the same reason.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from agentdeck.tracing.received import (
    KINDS,
    MAX_DEPTH,
    MAX_TIME_NS,
    STATUS_CODES,
    Export,
    OtlpError,
    ReceivedSpan,
    ResourceSpans,
    finite,
)

_F = descriptor_pb2.FieldDescriptorProto
# The fields of the OTLP messages that are read (numbers and wire types as in
# opentelemetry/proto/trace/v1/trace.proto); a message field kept as bytes is parsed later, or
# by hand. Fields not named here are kept by upb as unknown fields and never read.
_LEAN_SCHEMA: dict[str, tuple[tuple[int, str, int, str | None], ...]] = {
    "Request": ((1, "resource_spans", _F.TYPE_MESSAGE, "ResourceSpans"),),
    "ResourceSpans": (
        (1, "resource", _F.TYPE_MESSAGE, "Resource"),
        (2, "scope_spans", _F.TYPE_MESSAGE, "ScopeSpans"),
    ),
    "Resource": ((1, "attributes", _F.TYPE_BYTES, "repeated"),),
    "ScopeSpans": (
        (1, "scope", _F.TYPE_MESSAGE, "Scope"),
        (2, "spans", _F.TYPE_MESSAGE, "Span"),
    ),
    "Scope": ((1, "name", _F.TYPE_STRING, None),),
    "Span": (
        (1, "trace_id", _F.TYPE_BYTES, None),
        (2, "span_id", _F.TYPE_BYTES, None),
        (4, "parent_span_id", _F.TYPE_BYTES, None),
        (5, "name", _F.TYPE_STRING, None),
        (6, "kind", _F.TYPE_INT32, None),  # an open enum: an int32 on the wire
        (7, "start_time_unix_nano", _F.TYPE_FIXED64, None),
        (8, "end_time_unix_nano", _F.TYPE_FIXED64, None),
        (9, "attributes", _F.TYPE_BYTES, "repeated"),
        (11, "events", _F.TYPE_MESSAGE, "Event"),
        (15, "status", _F.TYPE_BYTES, None),
    ),
    "Event": (
        (1, "time_unix_nano", _F.TYPE_FIXED64, None),
        (2, "name", _F.TYPE_STRING, None),
        (3, "attributes", _F.TYPE_BYTES, "repeated"),
    ),
    "Status": ((2, "message", _F.TYPE_STRING, None), (3, "code", _F.TYPE_INT32, None)),
}
_REPEATED_MESSAGES = {"resource_spans", "scope_spans", "spans", "events"}


def _lean_classes() -> dict[str, Any]:
    """The message classes of the lean schema, in a descriptor pool of their own."""
    package = "agentdeck.otlp.lean"
    proto = descriptor_pb2.FileDescriptorProto(
        name="agentdeck/otlp_lean.proto", package=package, syntax="proto3"
    )
    for message, fields in _LEAN_SCHEMA.items():
        described = proto.message_type.add(name=message)
        for number, name, kind, extra in fields:
            repeated = extra == "repeated" or name in _REPEATED_MESSAGES
            field = described.field.add(
                name=name,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if kind == _F.TYPE_MESSAGE:
                field.type_name = f".{package}.{extra}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in _LEAN_SCHEMA
    }


_LEAN = _lean_classes()
_Request, _Status = _LEAN["Request"], _LEAN["Status"]
_DOUBLE = struct.Struct("<d").unpack_from
_NOT_PROTOBUF = "body is not an OTLP protobuf ExportTraceServiceRequest"
# What recent attribute and status bytes read as: cleared when full, so memory stays bounded
# whatever the clients send; long values (content) are not kept.
_SEEN_MAX = 8192
_SEEN_BYTES = 256
_seen_attributes: dict[bytes, tuple[str, Any]] = {}
_seen_statuses: dict[bytes, tuple[str, str | None]] = {}


def from_protobuf(body: bytes) -> Export:
    """The spans of an OTLP/protobuf `ExportTraceServiceRequest`."""
    request = _Request()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise OtlpError(f"{_NOT_PROTOBUF}: {exc}") from exc
    export = Export([])
    for r, resource_spans in enumerate(request.resource_spans):
        group = ResourceSpans(attributes(resource_spans.resource.attributes), [])
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name or None
            for n, pb in enumerate(scope_spans.spans):
                span = _span(pb, scope)
                if isinstance(span, str):
                    export.reject(f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]", span)
                else:
                    group.spans.append(span)
        if group.spans:
            export.resources.append(group)
    return export


def _span(pb: Any, scope: str | None) -> ReceivedSpan | str:
    """A span, or why it is rejected."""
    trace_id, span_id, parent = pb.trace_id, pb.span_id, pb.parent_span_id
    start_ns, end_ns = pb.start_time_unix_nano, pb.end_time_unix_nano
    problem = _id_problem(trace_id, 16, "traceId") or _id_problem(span_id, 8, "spanId")
    if problem is None and parent and len(parent) != 8:
        problem = f"parentSpanId has {len(parent)} bytes, not 8"
    if problem is None and (start_ns > MAX_TIME_NS or end_ns > MAX_TIME_NS):
        problem = "a time beyond the year 2262 (the store keeps signed 64-bit nanoseconds)"
    if problem is not None:
        return problem
    raw_status = pb.status
    status = _seen_statuses.get(raw_status) or _status(raw_status)
    kind = pb.kind
    return ReceivedSpan(
        trace_id.hex(),
        span_id.hex(),
        parent.hex() if parent and any(parent) else None,
        pb.name,
        KINDS[kind] if 0 <= kind < len(KINDS) else "internal",
        start_ns,
        end_ns,
        status[0],
        status[1],
        attributes(pb.attributes),
        [
            {
                "name": event.name,
                "time_ns": event.time_unix_nano,
                "attributes": attributes(event.attributes),
            }
            for event in pb.events
        ],
        scope,
    )


def _id_problem(raw: bytes, size: int, name: str) -> str | None:
    if len(raw) != size:
        return f"{name} has {len(raw)} bytes, not {size}"
    if not any(raw):
        return f"{name} is all zeros"
    return None


def _status(raw: bytes) -> tuple[str, str | None]:
    """(status code, message) of a serialized `Status`."""
    try:
        status = _Status.FromString(raw)
    except DecodeError as exc:
        raise OtlpError(f"{_NOT_PROTOBUF}: {exc}") from exc
    code = status.code
    name = STATUS_CODES[code] if 0 <= code < len(STATUS_CODES) else "unset"
    read = (name, status.message or None)
    if len(raw) <= _SEEN_BYTES:
        if len(_seen_statuses) >= _SEEN_MAX:
            _seen_statuses.clear()
        _seen_statuses[raw] = read
    return read


def attributes(serialized: Iterable[bytes]) -> dict[str, Any]:
    """Serialized `KeyValue`s as a dict of plain values (the last of a repeated key wins)."""
    found: dict[str, Any] = {}
    seen = _seen_attributes.get
    for raw in serialized:
        pair = seen(raw)
        if pair is None:
            pair = _attribute(raw)
        found[pair[0]] = pair[1]
    return found


def _attribute(raw: bytes) -> tuple[str, Any]:
    pair = _scalar_attribute(raw)
    if pair is None:
        try:
            message = KeyValue.FromString(raw)
        except (DecodeError, RecursionError) as exc:
            raise OtlpError(f"{_NOT_PROTOBUF}: {exc}") from exc
        return message.key, _value(message.value, 0)
    if len(raw) <= _SEEN_BYTES:
        if len(_seen_attributes) >= _SEEN_MAX:
            _seen_attributes.clear()
        _seen_attributes[raw] = pair
    return pair


def _scalar_attribute(raw: bytes) -> tuple[str, Any] | None:
    """A `KeyValue` of the common shape, read by hand: field 1 (the key), then field 2 (the
    value) holding one string, int, double or bool, and nothing else. None for any other
    shape, and for anything malformed: the generated class reads those, or refuses them."""
    try:
        if raw[0] != 0x0A:  # field 1, length-delimited
            return None
        size = raw[1]  # lengths under 128 take one byte: read inline, the common case
        at = 2
        if size >= 0x80:
            size, at = _varint(raw, 1)
        key = raw[at : at + size].decode()
        at += size
        end = len(raw)
        if at == end:
            return key, None  # no value
        if raw[at] != 0x12:  # field 2, length-delimited
            return None
        size = raw[at + 1]
        at += 2
        if size >= 0x80:
            size, at = _varint(raw, at - 1)
        if at + size != end:
            return None
        value = _scalar_value(raw, at) if size else None  # no field set: an empty AnyValue
    except (IndexError, UnicodeDecodeError):
        return None
    return None if value is _OTHER else (key, value)


_OTHER = object()  # not a value of the common shape


def _scalar_value(raw: bytes, at: int) -> Any:
    """The one scalar field of the `AnyValue` from `at` to the end of `raw`, or `_OTHER`."""
    end = len(raw)
    tag = raw[at]
    if tag == 0x0A:  # string_value
        size = raw[at + 1]
        at += 2
        if size >= 0x80:
            size, at = _varint(raw, at - 1)
        return raw[at:].decode() if at + size == end else _OTHER
    if tag == 0x18:  # int_value, a varint of the two's complement
        number, at = _varint(raw, at + 1)
        if at != end or number >> 64:
            return _OTHER
        return number - (1 << 64) if number >> 63 else number
    if tag == 0x21 and at + 9 == end:  # double_value, 8 bytes little-endian
        return finite(_DOUBLE(raw, at + 1)[0])
    if tag == 0x10 and at + 2 == end and raw[at + 1] < 2:  # bool_value
        return raw[at + 1] == 1
    return _OTHER


def _varint(raw: bytes, at: int) -> tuple[int, int]:
    """The varint at `at`, and where it ends (IndexError when it runs past 10 bytes or the end
    of `raw`)."""
    byte = raw[at]
    if byte < 0x80:
        return byte, at + 1
    number, shift = 0, 0
    while byte >= 0x80:
        number |= (byte & 0x7F) << shift
        shift += 7
        at += 1
        byte = raw[at]
        if shift > 63:
            raise IndexError("a varint longer than 10 bytes")
    return number | byte << shift, at + 1


def _value(value: Any, depth: int) -> Any:
    """An `AnyValue` message as a plain value."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return finite(value.double_value)
    if kind is None or depth >= MAX_DEPTH:
        return None
    if kind == "array_value":
        return [_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return base64.b64encode(value.bytes_value).decode()
