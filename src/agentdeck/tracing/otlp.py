"""OTLP/HTTP trace payloads: an `ExportTraceServiceRequest` as protobuf or JSON, gzip or not,
read into plain spans (`ReceivedSpan`) grouped by resource.

Structural problems (not protobuf, not JSON, a field of the wrong type) refuse the whole
request with a reason naming the field. A span that is well formed but unusable (an id of the
wrong length, all zeros) is rejected alone and counted, as OTLP's partial success describes.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentdeck.errors import InvalidRequestError, PayloadTooLargeError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
KINDS = ("internal", "internal", "server", "client", "producer", "consumer")  # by enum value
STATUS_CODES = ("unset", "ok", "error")
_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": n for n, name in enumerate(KINDS) if n}
_KIND_NAMES["SPAN_KIND_UNSPECIFIED"] = 0
_STATUS_NAMES = {f"STATUS_CODE_{name.upper()}": n for n, name in enumerate(STATUS_CODES)}
MAX_DEPTH = 8  # nested arrays and key-value lists in one attribute value
MAX_TIME_NS = (1 << 63) - 1


class OtlpError(InvalidRequestError):
    """A payload that is not an OTLP trace export; the message names the problem."""


class UnsupportedMediaTypeError(OtlpError):
    """A body in a format OTLP/HTTP does not define (415, as the specification requires)."""

    status = 415


@dataclass(slots=True)
class ReceivedSpan:
    """One span as sent: ids in lowercase hex, times in ns, attributes as plain values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    scope: str | None = None


@dataclass(slots=True)
class ResourceSpans:
    """The spans of one resource (one service), with the resource's attributes."""

    resource: dict[str, Any]
    spans: list[ReceivedSpan]


@dataclass(slots=True)
class Export:
    """A decoded export request: the usable spans, and how many were rejected and why."""

    resources: list[ResourceSpans]
    rejected: int = 0
    reason: str | None = None

    @property
    def span_count(self) -> int:
        """Usable spans in the request."""
        return sum(len(group.spans) for group in self.resources)

    def reject(self, where: str, why: str) -> None:
        """Count one span rejected; the first reason is kept for the response."""
        self.rejected += 1
        if self.reason is None:
            self.reason = f"{where}: {why}"


def media_type(content_type: str | None) -> str:
    """The payload format from a Content-Type header (415-worthy types are refused here)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMediaTypeError(
        f"content-type {kind or '(none)'!r} is not OTLP: send {PROTOBUF} or {JSON}",
        param="content-type",
    )


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip, deflate or none), refused with 413 when
    it inflates past `limit` bytes."""
    kind = (encoding or "identity").strip().lower()
    if kind == "identity":
        return body
    if kind not in ("gzip", "deflate"):
        raise OtlpError(
            f"content-encoding {kind!r} is not supported: send gzip, deflate or none",
            param="content-encoding",
        )
    if not body:
        raise OtlpError(f"body is truncated {kind} data", param="body")
    parts: list[bytes] = []
    size, rest = 0, body
    while rest:  # a gzip body may hold several members, one after another
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        try:
            part = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise OtlpError(f"body is not valid {kind}: {exc}", param="body") from exc
        size += len(part)
        if size > limit or inflater.unconsumed_tail:
            raise PayloadTooLargeError(
                f"body inflates past the limit of {limit} bytes", param="body"
            )
        if not inflater.eof:
            raise OtlpError(f"body is truncated {kind} data", param="body")
        parts.append(part)
        rest = inflater.unused_data
    return b"".join(parts)


def decode(body: bytes, kind: str) -> Export:
    """The spans of an OTLP `ExportTraceServiceRequest` in `kind` (PROTOBUF or JSON)."""
    return _from_protobuf(body) if kind == PROTOBUF else _from_json(body)


def success(kind: str, export: Export) -> bytes:
    """The `ExportTraceServiceResponse` body, with partial success when spans were rejected."""
    if kind == JSON:
        if not export.rejected:
            return b"{}"
        partial = {"rejectedSpans": str(export.rejected), "errorMessage": export.reason or ""}
        return orjson.dumps({"partialSuccess": partial})
    response = ExportTraceServiceResponse()
    if export.rejected:
        response.partial_success.rejected_spans = export.rejected
        response.partial_success.error_message = export.reason or ""
    return response.SerializeToString()


# --- protobuf --------------------------------------------------------------------------------


def _from_protobuf(body: bytes) -> Export:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise OtlpError(f"body is not an OTLP protobuf ExportTraceServiceRequest: {exc}") from exc
    export = Export([])
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _pb_attributes(resource_spans.resource.attributes)
        group = ResourceSpans(resource, [])
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name or None
            for n, pb in enumerate(scope_spans.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                span = _pb_span(pb, scope, where, export)
                if span is not None:
                    group.spans.append(span)
        if group.spans:
            export.resources.append(group)
    return export


def _pb_span(pb: Any, scope: str | None, where: str, export: Export) -> ReceivedSpan | None:
    trace_id, span_id, parent = pb.trace_id, pb.span_id, pb.parent_span_id
    problem = _id_problem(trace_id, 16, "traceId") or _id_problem(span_id, 8, "spanId")
    if problem is None and parent and len(parent) != 8:
        problem = f"parentSpanId has {len(parent)} bytes, not 8"
    if problem is None and max(pb.start_time_unix_nano, pb.end_time_unix_nano) > MAX_TIME_NS:
        problem = "a time beyond the year 2262 (the store keeps signed 64-bit nanoseconds)"
    if problem is not None:
        export.reject(where, problem)
        return None
    events = [
        {
            "name": event.name,
            "time_ns": event.time_unix_nano,
            "attributes": _pb_attributes(event.attributes),
        }
        for event in pb.events
    ]
    status = pb.status
    return ReceivedSpan(
        trace_id=trace_id.hex(),
        span_id=span_id.hex(),
        parent_span_id=parent.hex() if parent and any(parent) else None,
        name=pb.name,
        kind=KINDS[pb.kind] if 0 <= pb.kind < len(KINDS) else "internal",
        start_ns=pb.start_time_unix_nano,
        end_ns=pb.end_time_unix_nano,
        status=STATUS_CODES[status.code] if 0 <= status.code < 3 else "unset",
        status_message=status.message or None,
        attributes=_pb_attributes(pb.attributes),
        events=events,
        scope=scope,
    )


def _id_problem(raw: bytes, size: int, name: str) -> str | None:
    if len(raw) != size:
        return f"{name} has {len(raw)} bytes, not {size}"
    if not any(raw):
        return f"{name} is all zeros"
    return None


def _pb_attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    return {pair.key: _pb_value(pair.value, 0) for pair in pairs}


def _pb_value(value: Any, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return _finite(value.double_value)
    if kind is None or depth >= MAX_DEPTH:
        return None
    if kind == "array_value":
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return base64.b64encode(value.bytes_value).decode()


def _finite(number: float) -> float | str:
    """JSON has no NaN or infinity: those are kept as their names."""
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


# --- JSON ------------------------------------------------------------------------------------


def _from_json(body: bytes) -> Export:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"body is not JSON: {exc}") from exc
    root = _object(document, "body")
    export = Export([])
    for r, resource_spans in _items(root, ("resourceSpans", "resource_spans"), "body"):
        at = f"resourceSpans[{r}]"
        resource_obj = _object(_field(resource_spans, "resource") or {}, f"{at}.resource")
        resource = _json_attributes(resource_obj, f"{at}.resource")
        group = ResourceSpans(resource, [])
        names = ("scopeSpans", "scope_spans", "instrumentationLibrarySpans")
        for s, scope_spans in _items(resource_spans, names, at):
            scope_at = f"{at}.scopeSpans[{s}]"
            scope_obj = _field(scope_spans, "scope", "instrumentationLibrary") or {}
            scope_name = _object(scope_obj, f"{scope_at}.scope").get("name")
            scope = scope_name if isinstance(scope_name, str) and scope_name else None
            for n, raw in _items(scope_spans, ("spans",), scope_at):
                span = _json_span(raw, scope, f"{scope_at}.spans[{n}]", export)
                if span is not None:
                    group.spans.append(span)
        if group.spans:
            export.resources.append(group)
    return export


def _json_span(
    raw: dict[str, Any], scope: str | None, at: str, export: Export
) -> ReceivedSpan | None:
    name = _field(raw, "name")
    if name is not None and not isinstance(name, str):
        raise OtlpError(f"{at}.name is not a string", param="body")
    trace_id = _json_id(_field(raw, "traceId", "trace_id"), 16)
    span_id = _json_id(_field(raw, "spanId", "span_id"), 8)
    parent_raw = _field(raw, "parentSpanId", "parent_span_id")
    if parent_raw in ("0" * 16, "AAAAAAAAAAA="):  # all zeros: no parent, a root span
        parent_raw = None
    parent = _json_id(parent_raw, 8) if parent_raw else None
    if trace_id is None or span_id is None or (parent_raw and parent is None):
        which = "traceId" if trace_id is None else "spanId" if span_id is None else "parentSpanId"
        export.reject(at, f"{which} is not a valid id (hex or base64 of the right length)")
        return None
    status_obj = _object(_field(raw, "status") or {}, f"{at}.status")
    code = _enum(_field(status_obj, "code"), _STATUS_NAMES, f"{at}.status.code")
    message = _field(status_obj, "message")
    if message is not None and not isinstance(message, str):
        raise OtlpError(f"{at}.status.message is not a string", param="body")
    kind = _enum(_field(raw, "kind"), _KIND_NAMES, f"{at}.kind")
    start_ns = _uint64(
        _field(raw, "startTimeUnixNano", "start_time_unix_nano"), f"{at}.startTimeUnixNano"
    )
    end_ns = _uint64(_field(raw, "endTimeUnixNano", "end_time_unix_nano"), f"{at}.endTimeUnixNano")
    if max(start_ns, end_ns) > MAX_TIME_NS:
        export.reject(at, "a time beyond the year 2262 (the store keeps signed 64-bit nanoseconds)")
        return None
    events = []
    for e, event in _items(raw, ("events",), at):
        event_at = f"{at}.events[{e}]"
        event_name = _field(event, "name")
        events.append(
            {
                "name": event_name if isinstance(event_name, str) else "",
                "time_ns": _uint64(_field(event, "timeUnixNano", "time_unix_nano"), event_at),
                "attributes": _json_attributes(event, event_at),
            }
        )
    return ReceivedSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent if parent and parent != "0" * 16 else None,
        name=name or "",
        kind=KINDS[kind] if 0 <= kind < len(KINDS) else "internal",
        start_ns=_uint64(
            _field(raw, "startTimeUnixNano", "start_time_unix_nano"), f"{at}.startTimeUnixNano"
        ),
        end_ns=_uint64(
            _field(raw, "endTimeUnixNano", "end_time_unix_nano"), f"{at}.endTimeUnixNano"
        ),
        status=STATUS_CODES[code] if 0 <= code < 3 else "unset",
        status_message=message or None,
        attributes=_json_attributes(raw, at),
        events=events,
        scope=scope,
    )


def _field(obj: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `obj` (OTLP/JSON uses lowerCamelCase; the protobuf
    field names are accepted too)."""
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _object(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OtlpError(f"{at} is not a JSON object", param="body")
    return value


def _items(
    obj: dict[str, Any], names: tuple[str, ...], at: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    values = _field(obj, *names)
    if values is None:
        return
    if not isinstance(values, list):
        raise OtlpError(f"{at}.{names[0]} is not a JSON array", param="body")
    for n, value in enumerate(values):
        yield n, _object(value, f"{at}.{names[0]}[{n}]")


def _json_id(value: Any, size: int) -> str | None:
    """An id from OTLP/JSON: hex as the specification says, or base64 as protobuf's generic
    JSON mapping writes it; None when it is neither, or all zeros."""
    if not isinstance(value, str):
        return None
    if len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return None
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def _uint64(value: Any, at: str) -> int:
    """A fixed64 from OTLP/JSON: a decimal string or a number; absent is 0."""
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        number = value
    else:
        raise OtlpError(f"{at} is not an unsigned integer", param="body")
    if number >= 1 << 64:
        raise OtlpError(f"{at} is beyond 64 bits", param="body")
    return number


def _enum(value: Any, names: dict[str, int], at: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise OtlpError(f"{at} is not a known enum value: {value!r}", param="body")


def _json_attributes(
    obj: dict[str, Any], at: str, depth: int = 0, field: str = "attributes"
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for n, pair in _items(obj, (field,), at):
        key = pair.get("key")
        if not isinstance(key, str):
            raise OtlpError(f"{at}.{field}[{n}].key is not a string", param="body")
        found[key] = _json_value(pair.get("value"), f"{at}.{field}[{n}].value", depth)
    return found


def _json_value(value: Any, at: str, depth: int) -> Any:
    """An AnyValue from OTLP/JSON as a plain value (int64 may come as a string)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise OtlpError(f"{at} is not an AnyValue object", param="body")
    for key, item in value.items():
        scalar = _SCALARS.get(key)
        if scalar is not None:
            return scalar(item, at)
        if depth >= MAX_DEPTH:
            return None
        if key in ("arrayValue", "array_value"):
            values = _object(item, f"{at}.arrayValue").get("values") or []
            if not isinstance(values, list):
                raise OtlpError(f"{at}.arrayValue.values is not an array", param="body")
            return [
                _json_value(v, f"{at}.arrayValue.values[{i}]", depth + 1)
                for i, v in enumerate(values)
            ]
        if key in ("kvlistValue", "kvlist_value"):
            kvlist = _object(item, f"{at}.kvlistValue")
            return _json_attributes(kvlist, f"{at}.kvlistValue", depth + 1, "values")
    return None


def _typed(kind: type, name: str) -> Callable[[Any, str], Any]:
    def check(item: Any, at: str) -> Any:
        if not isinstance(item, kind):
            raise OtlpError(f"{at}.{name} is not a {kind.__name__}", param="body")
        return item

    return check


def _int64(item: Any, at: str) -> int:
    if isinstance(item, int) and not isinstance(item, bool):
        number = item
    elif isinstance(item, str) and re.fullmatch(r"-?[0-9]+", item):
        number = int(item)
    else:
        raise OtlpError(f"{at}.intValue is not an integer", param="body")
    if not -(1 << 63) <= number < 1 << 63:
        raise OtlpError(f"{at}.intValue is beyond 64 bits", param="body")
    return number


def _double(item: Any, at: str) -> float | str:
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return _finite(float(item))
    if item in ("NaN", "Infinity", "-Infinity"):
        return str(item)
    raise OtlpError(f"{at}.doubleValue is not a number", param="body")


_SCALARS: dict[str, Callable[[Any, str], Any]] = {
    "stringValue": _typed(str, "stringValue"),
    "boolValue": _typed(bool, "boolValue"),
    "intValue": _int64,
    "doubleValue": _double,
    "bytesValue": _typed(str, "bytesValue"),
}
_SCALARS.update({
    "string_value": _SCALARS["stringValue"], "bool_value": _SCALARS["boolValue"],
    "int_value": _int64, "double_value": _double, "bytes_value": _SCALARS["bytesValue"],
})  # fmt: skip
