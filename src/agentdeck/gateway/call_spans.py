"""The span of one gateway call, after the OpenTelemetry GenAI semantic conventions.

Standard attributes (`gen_ai.*`, `error.type`) where the conventions define them, and
`agentdeck.*` for the rest: tenant, project, key, user, session, deployment, cost, cache,
attempts and fallback path.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from agentdeck.gateway.models import MAX_CONTENT_CHARS, CallContent, CallRecord
from agentdeck.identity.grants import Grant
from agentdeck.tracing.spans import Span

# Deployment provider -> gen_ai.provider.name (the conventions' well-known values).
PROVIDER_NAMES = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
}


def hashed_user(tenant_id: str, user: str) -> str:
    """An end-user id that can be grouped by but not read: SHA-256 of tenant and id."""
    return "h:" + hashlib.sha256(f"{tenant_id}\x00{user}".encode()).hexdigest()[:32]


def call_span(record: CallRecord, grant: Grant, raw_user_ids: bool = False) -> Span:
    """The span of a finished gateway call made by `grant`."""
    usage = record.usage
    provider = PROVIDER_NAMES.get(record.provider or "", record.provider)
    user = record.end_user
    if user is not None and not raw_user_ids:
        user = hashed_user(grant.tenant_id, user)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": record.operation,
        "gen_ai.request.model": record.requested_model,
        "agentdeck.request_id": record.request_id,
        "agentdeck.tenant.id": grant.tenant_id,
        "agentdeck.project.id": grant.project_id,
        "agentdeck.principal.id": grant.principal_id,
        "agentdeck.key.id": grant.key_id,
        "agentdeck.alias": record.alias,
        "agentdeck.attempts": record.attempts,
        "agentdeck.cost_micros": record.cost_micros,
        "agentdeck.stream": record.stream,
        "agentdeck.outcome": record.outcome,
    }
    optional = {
        "gen_ai.provider.name": provider,
        "gen_ai.response.model": record.response_model,
        "agentdeck.deployment": record.deployment_id or None,
        "agentdeck.cache": record.cache,
        "agentdeck.route": record.route,
        "agentdeck.prompt.name": record.prompt_name,
        "agentdeck.prompt.version": record.prompt_version,
        "agentdeck.session.id": record.session_id,
        "agentdeck.user.id": user,
        "agentdeck.tags": list(record.tags) or None,
        "agentdeck.fallback.path": list(record.path) if len(record.path) > 1 else None,
    }
    attributes.update((k, v) for k, v in optional.items() if v is not None)
    events = record.guard.verdicts.events if record.guard is not None else []
    if events:
        attributes["agentdeck.guardrail.verdicts"] = sorted(
            {f"{e['attributes']['agentdeck.guardrail.name']}:"
             f"{e['attributes']['agentdeck.guardrail.action']}" for e in events}
        )  # fmt: skip
    if usage.input_tokens or usage.output_tokens:
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        attributes["agentdeck.usage.counted"] = usage.counted
    status, message = "ok", None
    if record.outcome == "unfinished":
        status, message = "error", "the call ended before its answer (client gone or cancelled)"
        attributes["error.type"] = "cancelled"
    elif record.outcome != "ok" or record.error is not None:
        status, message = "error", record.error or record.outcome
        attributes["error.type"] = (record.error or record.outcome).split(":", 1)[0]
    input_text, output_text = _content_texts(record.content)
    if record.content is not None:
        attributes["agentdeck.content"] = "captured"
    return Span(
        tenant_id=grant.tenant_id,
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        name=f"{record.operation} {record.requested_model}",
        start_ns=record.started_ns,
        end_ns=time.time_ns(),
        project_id=grant.project_id,
        kind="client",
        status=status,
        status_message=message,
        source="gateway",
        service="agentdeck",
        operation=record.operation,
        provider=provider,
        request_model=record.requested_model,
        response_model=record.response_model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_micros=record.cost_micros,
        session_id=record.session_id,
        user_id=user,
        deployment=record.deployment_id or None,
        tags=f",{','.join(record.tags)}," if record.tags else None,
        cache=record.cache,
        prompt_name=record.prompt_name,
        prompt_version=record.prompt_version,
        attributes=attributes,
        events=list(events),
        input_text=input_text,
        output_text=output_text,
    )


def _content_texts(content: CallContent | None) -> tuple[str | None, str | None]:
    """A captured call's input (as JSON unless it is text) and output, cut to the cap and
    redacted by the project's policy."""
    if content is None:
        return None, None
    asked = content.input
    if asked is None:
        input_text = None
    else:
        text = asked if isinstance(asked, str) else orjson.dumps(asked).decode(errors="replace")
        input_text = text[:MAX_CONTENT_CHARS]
    output_text = "".join(content.output) or None
    if content.redact is not None:
        input_text = content.redact(input_text) if input_text else input_text
        output_text = content.redact(output_text) if output_text else output_text
    return input_text, output_text
