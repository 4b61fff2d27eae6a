"""The `execute_tool {name}` span of each tool call, after the OpenTelemetry GenAI conventions:
arguments and result are kept as the span's input and output text only when the project's
content policy captures content, redacted by it first. Credentials never reach a span: they
live in headers, which are not recorded."""

from __future__ import annotations

import time
from typing import Any

import orjson

from agentdeck.tools.models import ToolCaller, ToolResult, ToolSpec
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span, new_span_id, new_trace_id

MAX_CONTENT_CHARS = 32_000


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:MAX_CONTENT_CHARS]


class ToolSpans:
    """Builds tool spans and hands them to the recorder (never blocks)."""

    def __init__(self, recorder: SpanRecorder, content: ContentPolicies | None) -> None:
        self._recorder = recorder
        self._content = content

    def record(
        self,
        spec: ToolSpec,
        arguments: Any,
        caller: ToolCaller,
        result: ToolResult,
        started_ns: int,
        approval_id: str | None = None,
    ) -> None:
        """Record the span of a finished call of `spec`."""
        self._record(spec.name, spec.risk, arguments, caller, result, started_ns, approval_id)

    def record_missing(
        self, name: str, arguments: Any, caller: ToolCaller, result: ToolResult, started_ns: int
    ) -> None:
        """Record the span of a call of a tool that does not exist."""
        self._record(name, None, arguments, caller, result, started_ns, None)

    def _record(
        self,
        name: str,
        risk: str | None,
        arguments: Any,
        caller: ToolCaller,
        result: ToolResult,
        started_ns: int,
        approval_id: str | None,
    ) -> None:
        grant = caller.grant
        span_id = new_span_id()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": span_id,
            "agentdeck.tenant.id": grant.tenant_id,
            "agentdeck.project.id": grant.project_id,
            "agentdeck.principal.id": grant.principal_id,
            "agentdeck.key.id": grant.key_id,
            "agentdeck.outcome": "ok" if result.ok else result.error.type,  # type: ignore[union-attr]
        }
        optional = {
            "agentdeck.tool.risk": risk,
            "agentdeck.agent": caller.agent,
            "agentdeck.run.id": caller.run_id,
            "agentdeck.request_id": caller.request_id,
            "agentdeck.approval.id": result.approval_id or approval_id,
        }
        attributes.update((k, v) for k, v in optional.items() if v is not None)
        status, message = "ok", None
        if result.error is not None:
            status, message = "error", result.error.message
            attributes["error.type"] = result.error.type
        input_text = output_text = None
        policy = self._content.of(grant.project_id) if self._content is not None else None
        if policy is not None and policy.capture:
            attributes["agentdeck.content"] = "captured"
            input_text = _text(arguments)
            output_text = _text(result.to_json())
            if policy.redact is not None:
                input_text, output_text = policy.redact(input_text), policy.redact(output_text)
        self._recorder.record(
            Span(
                tenant_id=grant.tenant_id,
                trace_id=caller.trace_id or new_trace_id(),
                span_id=span_id,
                parent_span_id=caller.parent_span_id,
                name=f"execute_tool {name}",
                start_ns=started_ns,
                end_ns=time.time_ns(),
                project_id=grant.project_id,
                kind="internal",
                status=status,
                status_message=message,
                source="tools",
                service="agentdeck",
                operation="execute_tool",
                tool_name=name,
                attributes=attributes,
                input_text=input_text,
                output_text=output_text,
            )
        )
