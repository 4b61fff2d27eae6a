"""Tool spans keep arguments and results only for projects whose content policy captures, and
then redacted by it; outcomes and approvals are attributes; a caller's trace is joined."""

from __future__ import annotations

import time

from agentdeck.guardrails.pii import redactor
from agentdeck.settings_tracing import ContentSettings
from agentdeck.tools.models import PythonImplementation, ToolCaller, ToolResult, ToolSpec, failure
from agentdeck.tools.spans import ToolSpans
from agentdeck.tracing.content import ContentPolicies
from tests.unit.tools.conftest import PROJECT, SpanSink, grant

SPEC = ToolSpec("mail", "d", {"type": "object"}, None, PythonImplementation("m"), risk="high")
ARGS = {"to": "ann.smith@example.com", "body": "hello"}


def spans_for(capture: dict[str, bool]) -> tuple[ToolSpans, SpanSink]:
    sink = SpanSink()
    settings = ContentSettings(capture=False, projects=capture, redact=["EMAIL"])
    return ToolSpans(sink, ContentPolicies(settings, redactor)), sink  # type: ignore[arg-type]


def test_content_is_kept_redacted_only_where_the_project_captures() -> None:
    caller = ToolCaller(grant("developer"), run_id="run-1", trace_id="a" * 32,
                        parent_span_id="b" * 16)  # fmt: skip
    spans, sink = spans_for({PROJECT: True})
    spans.record(SPEC, ARGS, caller, ToolResult(True, {"sent_to": ARGS["to"]}), time.time_ns())
    [span] = sink.spans
    assert span.input_text is not None
    assert span.output_text is not None
    assert "ann.smith@example.com" not in span.input_text + span.output_text
    assert "hello" in span.input_text
    assert (span.trace_id, span.parent_span_id) == ("a" * 32, "b" * 16)
    assert span.attributes["agentdeck.content"] == "captured"
    assert span.attributes["agentdeck.run.id"] == "run-1"
    assert span.attributes["agentdeck.tool.risk"] == "high"
    off, quiet = spans_for({PROJECT: False})
    paused = failure("approval_required", "wait", True, approval_id="apr_1")
    off.record(SPEC, ARGS, caller, paused, time.time_ns())
    [span] = quiet.spans
    assert (span.input_text, span.output_text) == (None, None)
    assert "agentdeck.content" not in span.attributes
    assert (span.status, span.attributes["error.type"]) == ("error", "approval_required")
    assert span.attributes["agentdeck.approval.id"] == "apr_1"
