"""OTLP/HTTP trace payloads: an `ExportTraceServiceRequest` as protobuf or JSON, gzip or not,
read into plain spans (`ReceivedSpan`) grouped by resource.

Structural problems (not protobuf, not JSON, a field of the wrong type) refuse the whole
request with a reason naming the field. A span that is well formed but unusable (an id of the
wrong length, all zeros) is rejected alone and counted, as OTLP's partial success describes.
The two formats are read by `otlp_protobuf` and `otlp_json`, into the types of `received`.
"""

from __future__ import annotations

import zlib

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentdeck.errors import PayloadTooLargeError
from agentdeck.tracing.otlp_json import from_json
from agentdeck.tracing.otlp_protobuf import from_protobuf
from agentdeck.tracing.received import (
    KINDS,
    MAX_DEPTH,
    MAX_TIME_NS,
    STATUS_CODES,
    Export,
    OtlpError,
    ReceivedSpan,
    ResourceSpans,
    UnsupportedMediaTypeError,
)

__all__ = [
    "JSON",
    "KINDS",
    "MAX_DEPTH",
    "MAX_TIME_NS",
    "PROTOBUF",
    "STATUS_CODES",
    "Export",
    "OtlpError",
    "ReceivedSpan",
    "ResourceSpans",
    "UnsupportedMediaTypeError",
    "decode",
    "inflate",
    "media_type",
    "success",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


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
    return from_protobuf(body) if kind == PROTOBUF else from_json(body)


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
