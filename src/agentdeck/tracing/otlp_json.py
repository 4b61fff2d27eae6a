"""OTLP/JSON trace requests read into `ReceivedSpan`s, by hand: OTLP/JSON differs from
protobuf's JSON mapping (ids in hex, not base64), and exporters write both, with either
spelling of field names (lowerCamelCase, or the protobuf names). Structural problems refuse
the request naming the field; unusable spans are rejected alone."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

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

_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": n for n, name in enumerate(KINDS) if n}
_KIND_NAMES["SPAN_KIND_UNSPECIFIED"] = 0
_STATUS_NAMES = {f"STATUS_CODE_{name.upper()}": n for n, name in enumerate(STATUS_CODES)}


def from_json(body: bytes) -> Export:
    """The spans of an OTLP/JSON `ExportTraceServiceRequest`."""
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
        return finite(float(item))
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
