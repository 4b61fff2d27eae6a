"""The guardrails steps of a gateway call: the project's policy on the request's texts
after admission, and on the answer, whole or streamed."""

from __future__ import annotations

from agentdeck.gateway.models import JSON, CallRecord
from agentdeck.guardrails.models import CheckContext
from agentdeck.guardrails.service import Guardrails
from agentdeck.identity.grants import Grant


async def guard_request(
    guardrails: Guardrails | None, body: JSON, record: CallRecord, grant: Grant, route: str
) -> None:
    """Judge the request's texts under its policy (redacting them in `body`, or raising
    `GuardrailBlockedError`); the call's guard is kept on `record` for the answer and span."""
    if guardrails is None or not guardrails.active:
        return
    context = CheckContext(
        tenant_id=grant.tenant_id,
        project_id=grant.project_id,
        alias=record.alias,
        route=route,
        request_id=record.request_id,
        prompt_name=record.prompt_name,
    )
    guard = guardrails.for_call(body, context)
    if guard is not None:
        record.guard = guard
        await guard.check_request(body)


async def guard_answer(record: CallRecord, answer: bytes) -> bytes:
    """A whole OpenAI-format answer after the output guardrails of the call."""
    if record.guard is None:
        return answer
    return await record.guard.check_answer(answer)
