"""Stored spans as an OTLP `ExportTraceServiceRequest`, for the exporter (`export.py`).

One resource per (service, tenant, project); a span's columns go back into its attributes under
the names agentdeck's gateway spans use (`gen_ai.*`, `agentdeck.*`), and content is left out
unless it is asked for.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from agentdeck import __version__
from agentdeck.tracing.conventions import is_content
from agentdeck.tracing.spans import Span

_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUSES = {"unset": 0, "ok": 1, "error": 2}
_MAX_DEPTH = 8
_INT64 = 1 << 63
# Span events of the older GenAI conventions whose attributes are content (conventions.py).
_CONTENT_EVENTS = frozenset({
    "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
    "gen_ai.tool.message", "gen_ai.choice", "gen_ai.content.prompt",
    "gen_ai.content.completion",
})  # fmt: skip
# Where a received span may carry the end user's id as sent (its column holds the hash).
_RAW_USER_KEYS = ("user.id", "enduser.id")


def encode(spans: Iterable[Span], include_content: bool, compress: bool) -> tuple[bytes, int]:
    """The request body of an export of `spans`, and how many could not be encoded."""
    request, unusable = build_request(spans, include_content)
    body = request.SerializeToString()
    return (gzip.compress(body, compresslevel=6) if compress else body), unusable


def build_request(
    spans: Iterable[Span], include_content: bool
) -> tuple[ExportTraceServiceRequest, int]:
    """An `ExportTraceServiceRequest` of `spans`, one resource per (service, tenant, project),
    and how many spans had unusable ids (not hex, or of the wrong length: left out)."""
    request = ExportTraceServiceRequest()
    scopes: dict[tuple[str, str, str], Any] = {}
    unusable = 0
    for span in spans:
        try:
            ids = (
                bytes.fromhex(span.trace_id),
                bytes.fromhex(span.span_id),
                bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
            )
        except ValueError:
            unusable += 1
            continue
        if len(ids[0]) != 16 or len(ids[1]) != 8 or len(ids[2]) not in (0, 8):
            unusable += 1
            continue
        key = (span.service or "unknown_service", span.tenant_id, span.project_id)
        scope = scopes.get(key)
        if scope is None:
            scope = scopes[key] = _new_resource(request.resource_spans.add(), key)
        _fill_span(scope.spans.add(), span, ids, include_content)
    return request, unusable


def _new_resource(resource: ResourceSpans, key: tuple[str, str, str]) -> Any:
    service, tenant, project = key
    attributes = {"service.name": service, "agentdeck.tenant.id": tenant}
    if project:
        attributes["agentdeck.project.id"] = project
    _fill_attributes(resource.resource.attributes, attributes)
    scope = resource.scope_spans.add()
    scope.scope.name = "agentdeck"
    scope.scope.version = __version__
    return scope


def _fill_span(
    pb: OtlpSpan, span: Span, ids: tuple[bytes, bytes, bytes], include_content: bool
) -> None:
    pb.trace_id, pb.span_id, parent = ids
    if parent:
        pb.parent_span_id = parent
    pb.name = span.name
    pb.kind = _KINDS.get(span.kind, 1)  # type: ignore[assignment]
    pb.start_time_unix_nano = max(span.start_ns, 0)
    pb.end_time_unix_nano = max(span.end_ns, span.start_ns, 0)
    pb.status.code = _STATUSES.get(span.status, 0)  # type: ignore[assignment]
    if span.status_message:
        pb.status.message = span.status_message
    _fill_attributes(pb.attributes, span_attributes(span, include_content))
    for event in span.events:
        out = pb.events.add()
        out.name = str(event.get("name") or "")
        out.time_unix_nano = max(int(event.get("time_ns") or 0), 0)
        attributes = event.get("attributes") or {}
        if not include_content and out.name in _CONTENT_EVENTS:
            attributes = {}
        if isinstance(attributes, dict):
            _fill_attributes(out.attributes, attributes)


def span_attributes(span: Span, include_content: bool) -> dict[str, Any]:
    """The attributes a span is exported with: its own, content left out unless included,
    then its columns under the names agentdeck's gateway spans use (the columns win)."""
    attributes: dict[str, Any] = {}
    withheld = False
    for key, value in span.attributes.items():
        if not include_content and is_content(key):
            withheld = True
        else:
            attributes[key] = value
    if span.user_id is not None and span.user_id.startswith("h:"):
        for key in _RAW_USER_KEYS:  # the id as sent, where the store keeps its hash
            attributes.pop(key, None)
    facts = {
        "gen_ai.operation.name": span.operation,
        "gen_ai.provider.name": span.provider,
        "gen_ai.request.model": span.request_model,
        "gen_ai.response.model": span.response_model,
        "gen_ai.usage.input_tokens": span.input_tokens,
        "gen_ai.usage.output_tokens": span.output_tokens,
        "gen_ai.conversation.id": span.session_id,
        "gen_ai.tool.name": span.tool_name,
        "agentdeck.cost_micros": span.cost_micros,
        "agentdeck.session.id": span.session_id,
        "agentdeck.user.id": span.user_id,
        "agentdeck.prompt.name": span.prompt_name,
        "agentdeck.prompt.version": span.prompt_version,
        "agentdeck.deployment": span.deployment,
        "agentdeck.cache": span.cache,
        "agentdeck.tags": [tag for tag in span.tags.split(",") if tag] if span.tags else None,
        "agentdeck.source": span.source,
    }
    attributes.update((key, value) for key, value in facts.items() if value is not None)
    if include_content:
        if span.input_text:
            attributes.setdefault("input.value", span.input_text)
        if span.output_text:
            attributes.setdefault("output.value", span.output_text)
    elif withheld or span.input_text or span.output_text:
        attributes["agentdeck.content"] = "not exported"
    return attributes


def _fill_attributes(target: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        if value is not None:
            pair: KeyValue = target.add()
            pair.key = str(key)
            _fill_value(pair.value, value, 0)


def _fill_value(out: AnyValue, value: Any, depth: int) -> None:
    """An attribute value as an OTLP `AnyValue` (None inside arrays stays an empty value)."""
    if value is None:
        return
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        if -_INT64 <= value < _INT64:
            out.int_value = value
        else:
            out.string_value = str(value)
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, (list, tuple, dict)) and depth < _MAX_DEPTH:
        _fill_nested(out, value, depth)
    else:
        out.string_value = str(value)


def _fill_nested(
    out: AnyValue, value: list[Any] | tuple[Any, ...] | dict[Any, Any], depth: int
) -> None:
    if isinstance(value, dict):
        pairs = out.kvlist_value
        pairs.SetInParent()  # an empty mapping stays an (empty) key-value list
        for key, item in value.items():
            pair = pairs.values.add()
            pair.key = str(key)
            _fill_value(pair.value, item, depth + 1)
    else:
        array = out.array_value
        array.SetInParent()  # an empty list stays an (empty) array
        for item in value:
            _fill_value(array.values.add(), item, depth + 1)
