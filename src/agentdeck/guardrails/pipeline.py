"""The guardrails step of the gateway: choose the call's policy, judge its input texts (and
put redacted ones back), then its answer, whole or window by window as it streams.

A guardrail that raises is a guardrail that could not judge: the failure is logged and
counted, and the text is refused (fail closed). A guardrail that should let text through
when it fails says so itself (the webhook guardrail's `fail: open`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

import orjson

from agentdeck.errors import AgentdeckError, GuardrailBlockedError
from agentdeck.guardrails.models import Action, CheckContext, Redaction, Source, Stage, Verdict
from agentdeck.guardrails.outcome import (
    ActiveGuardrail,
    CallVerdicts,
    Placeholders,
    blocked,
    merge_redactions,
    strongest,
)
from agentdeck.guardrails.sanitize import Sanitizer
from agentdeck.guardrails.texts import TextSlot, answer_texts, request_texts
from agentdeck.settings_guardrails import GuardrailPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """A policy with its guardrails built."""

    name: str
    input: tuple[ActiveGuardrail, ...]
    output: tuple[ActiveGuardrail, ...]
    stream: tuple[ActiveGuardrail, ...]
    sanitizer: Sanitizer | None
    window: int  # characters a stream holds back

    def matches(self, spec: GuardrailPolicy, project: str, alias: str, route: str) -> bool:
        """Whether `spec` (this policy's settings) applies to a call."""
        return (
            (not spec.projects or any(fnmatchcase(project, p) for p in spec.projects))
            and (not spec.aliases or any(fnmatchcase(alias, a) for a in spec.aliases))
            and (not spec.routes or route in spec.routes)
        )


Judge = Callable[[str, CheckContext], Awaitable[Verdict]]
_CHECKS = {"input": "check_input", "output": "check_output", "stream": "check_chunk"}


async def _judge(
    stage: Stage, use: ActiveGuardrail, text: str, context: CheckContext, log_to: CallVerdicts
) -> tuple[Verdict, Action]:
    """One guardrail's verdict on one text, and the action its mode makes of it."""
    guardrail = use.guardrail
    check: Judge = getattr(guardrail, _CHECKS[stage])
    try:
        verdict = await check(text, context)
    except AgentdeckError:
        raise
    except Exception as exc:
        log.exception("guardrail %s failed on %s", guardrail.name, stage)
        reason = f"the guardrail failed: {type(exc).__name__}"
        log_to.failed(stage, use, reason)
        verdict = Verdict(guardrail.name, "block", (reason,))
        raise blocked(stage, use, verdict) from exc
    action = use.decide(verdict)
    log_to.note(stage, use, verdict, action)
    if action == "block":
        log_to.blocked = True
        raise blocked(stage, use, verdict)
    return verdict, action


async def judge_text(
    stage: Stage,
    uses: tuple[ActiveGuardrail, ...],
    text: str,
    context: CheckContext,
    verdicts: CallVerdicts,
) -> list[Redaction]:
    """Every guardrail of `uses` on `text`; the spans to redact (a block raises)."""
    found: list[Redaction] = []
    for use in uses:
        verdict, action = await _judge(stage, use, text, context, verdicts)
        if action == "redact":
            found.extend(verdict.redactions)
    return merge_redactions(found) if len(uses) > 1 else found


class CallGuard:
    """The guardrails of one call: its policy, context, placeholders and verdicts."""

    def __init__(
        self, policy: ActivePolicy, context: CheckContext, count: Callable[[str, str, str], None]
    ) -> None:
        self.policy = policy
        self.context = context
        self.placeholders = Placeholders()
        self.verdicts = CallVerdicts(count)
        self._contexts: dict[tuple[Stage, Source], CheckContext] = {}

    async def check_request(self, body: dict[str, Any]) -> None:
        """Judge every text of the request; redacted texts are put back into `body`."""
        if not self.policy.input:
            return
        for slot in list(request_texts(body, self.context.route)):
            await self._redact_slot("input", self.policy.input, slot)

    async def _redact_slot(
        self, stage: Stage, uses: tuple[ActiveGuardrail, ...], slot: TextSlot
    ) -> bool:
        context = self._context(stage, slot.source)
        spans = await judge_text(stage, uses, slot.text, context, self.verdicts)
        text = self.placeholders.apply(slot.text, spans)
        if stage != "input" and self.policy.sanitizer is not None:
            text = self.policy.sanitizer(text)
        if text != slot.text:
            slot.put(text)
            return True
        return False

    def _context(self, stage: Stage, source: Source) -> CheckContext:
        """The call's context for a text of `stage` from `source` (`dataclasses.replace` is
        slow enough to count on the hot path, so each is made once per call, or not at all
        when the call's context already says it)."""
        context = self.context
        if context.stage == stage and context.source == source:
            return context
        key = (stage, source)
        made = self._contexts.get(key)
        if made is None:
            made = self._contexts[key] = replace(context, stage=stage, source=source)
        return made

    async def check_answer(self, raw: bytes) -> bytes:
        """A whole OpenAI-format chat answer after the output guardrails (re-encoded only
        when a text changed)."""
        if not self.policy.output and self.policy.sanitizer is None:
            return raw
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(answer, dict):
            return raw
        changed = False
        for slot in list(answer_texts(answer)):
            changed |= await self._redact_slot("output", self.policy.output, slot)
        return orjson.dumps(answer) if changed else raw

    @property
    def guards_streams(self) -> bool:
        """Whether a streamed answer is judged or sanitized at all."""
        return bool(self.policy.stream) or self.policy.sanitizer is not None

    def stream(self) -> StreamGuard:
        """A window-by-window check of one streamed text (one per choice of a stream)."""
        return StreamGuard(self)


class StreamGuard:
    """Output guardrails on a stream without holding all of it: each new piece of text is
    judged with the last `window` characters before it, and only text that can no longer
    be part of a finding is let through (redacted)."""

    def __init__(self, call: CallGuard) -> None:
        self._call = call
        self._uses = call.policy.stream
        self._window = call.policy.window
        self._context = replace(call.context, stage="stream", source="assistant")
        self._held = ""

    @property
    def held(self) -> int:
        """Characters judged but not yet let through."""
        return len(self._held)

    async def feed(self, text: str) -> str:
        """The text that can be sent now, given the stream's next piece `text`."""
        if not text:
            return ""
        window = self._held + text
        spans = await self._judge(window)
        cut = _cut_at(window, len(window) - self._window)
        for span in spans:
            if span.start < cut < span.end:
                cut = span.start  # a finding is sent whole or not yet
        self._held = window[cut:]
        return self._release(window[:cut], [s for s in spans if s.end <= cut])

    async def finish(self) -> str:
        """What is still held, judged and let through at the end of the stream."""
        if not self._held:
            return ""
        window, self._held = self._held, ""
        return self._release(window, await self._judge(window))

    async def _judge(self, window: str) -> list[Redaction]:
        if not self._uses:
            return []
        return await judge_text("stream", self._uses, window, self._context, self._call.verdicts)

    def _release(self, text: str, spans: list[Redaction]) -> str:
        out = self._call.placeholders.apply(text, spans)
        sanitizer = self._call.policy.sanitizer
        return sanitizer(out) if sanitizer is not None and out else out


def _cut_at(window: str, at: int) -> int:
    """Where to stop sending: at or before `at`, after a whitespace character when one is
    near, so the held text starts at a word (a finding is never judged from its middle)."""
    if at <= 0:
        return 0
    space = max(window.rfind(" ", 0, at), window.rfind("\n", 0, at))
    return space + 1 if space >= max(0, at - 64) else at


__all__ = [
    "ActivePolicy",
    "CallGuard",
    "GuardrailBlockedError",
    "StreamGuard",
    "judge_text",
    "strongest",
]
