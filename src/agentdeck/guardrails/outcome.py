"""What the guardrails of one call decided: placeholders numbered across the call, the
verdicts kept as span events and counted, and a block turned into the client's error."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdeck.errors import GuardrailBlockedError
from agentdeck.guardrails.models import SEVERITY, Action, Guardrail, Redaction, Verdict

# The error code of a block, by the kind of guardrail that found it.
BLOCK_CODES = {
    "pii": "pii_detected",
    "secrets": "pii_detected",
    "injection": "prompt_injection_detected",
    "canary": "canary_leaked",
    "json_schema": "output_schema_invalid",
}
MAX_EVENTS = 64  # verdict events kept on one call's span; the metric counts them all


@dataclass(frozen=True, slots=True)
class ActiveGuardrail:
    """A guardrail as a policy uses it: the instance, its type, and the mode that replaces
    what it suggests (None: keep the suggestion)."""

    guardrail: Guardrail
    type: str
    mode: Action | None = None

    def decide(self, verdict: Verdict) -> Action:
        """The action taken on `verdict` under this use's mode."""
        if not verdict.triggered or self.mode is None:
            return verdict.action
        if "service_failed_open" in verdict.findings:
            return "flag"  # the guardrail could not judge and was told to let text through
        if self.mode == "redact" and not verdict.redactions:
            return "block"  # nothing to replace: refusing is the only safe reading of redact
        return self.mode


class Placeholders:
    """Typed placeholders numbered per call: the same value gets the same number in every
    text of the call (input, output, every window of a stream)."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], int] = {}
        self._counts: dict[str, int] = {}

    def of(self, kind: str, value: str) -> str:
        """The placeholder of `value`, found as `kind`."""
        key = (kind, value)
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"[{kind}_{number}]"

    def apply(self, text: str, redactions: Sequence[Redaction]) -> str:
        """`text` with each span replaced by its placeholder (spans in order, no overlap)."""
        if not redactions:
            return text
        parts: list[str] = []
        at = 0
        for span in redactions:
            parts.append(text[at : span.start])
            parts.append(self.of(span.kind, text[span.start : span.end]))
            at = span.end
        parts.append(text[at:])
        return "".join(parts)


def merge_redactions(found: Sequence[Redaction]) -> list[Redaction]:
    """Spans of several guardrails as one ordered list without overlap (the earlier, then
    the longer, wins)."""
    merged: list[Redaction] = []
    for span in sorted(found, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            if span.end > merged[-1].end:
                last = merged[-1]
                merged[-1] = Redaction(last.start, span.end, last.kind)
            continue
        merged.append(span)
    return merged


@dataclass(slots=True)
class CallVerdicts:
    """The verdicts of one call, as span events, and the count hook of the metric."""

    count: Callable[[str, str, str], None]
    events: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False
    _seen: set[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=set)
    _allowed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def note(self, stage: str, use: ActiveGuardrail, verdict: Verdict, action: Action) -> None:
        """Keep and count a verdict. A guardrail's `allow` is kept once per stage of the call,
        not once per message or stream window, with the highest score of the texts it let
        through; a stream's repeated finding of the same kind, seen again in the next window,
        is kept once."""
        if action == "allow":
            kept = self._allowed.get((stage, verdict.guardrail))
            if kept is not None:
                _raise_score(kept, verdict)
                return
        elif stage == "stream":  # only a stream sees one finding again
            key = (stage, verdict.guardrail, action, verdict.reasons)
            if key in self._seen:
                return
            self._seen.add(key)
        self.count(verdict.guardrail, stage, action)
        attributes: dict[str, Any] = {
            "agentdeck.guardrail.name": verdict.guardrail,
            "agentdeck.guardrail.type": use.type,
            "agentdeck.guardrail.stage": stage,
            "agentdeck.guardrail.action": action,
            "agentdeck.guardrail.reasons": list(verdict.reasons),
        }
        if verdict.findings:
            attributes["agentdeck.guardrail.findings"] = dict(verdict.findings)
        if verdict.score is not None:
            attributes["agentdeck.guardrail.score"] = round(verdict.score, 4)
        if verdict.threshold is not None:
            attributes["agentdeck.guardrail.threshold"] = verdict.threshold
        if action == "allow":
            self._allowed[(stage, verdict.guardrail)] = attributes
        if len(self.events) >= MAX_EVENTS:
            return
        self.events.append(
            {"name": "agentdeck.guardrail", "time_ns": time.time_ns(), "attributes": attributes}
        )

    def failed(self, stage: str, use: ActiveGuardrail, reason: str) -> None:
        """Keep and count a guardrail that could not judge (its error, not a finding)."""
        self.count(use.guardrail.name, stage, "error")
        if len(self.events) < MAX_EVENTS:
            self.events.append(
                {
                    "name": "agentdeck.guardrail",
                    "time_ns": time.time_ns(),
                    "attributes": {
                        "agentdeck.guardrail.name": use.guardrail.name,
                        "agentdeck.guardrail.type": use.type,
                        "agentdeck.guardrail.stage": stage,
                        "agentdeck.guardrail.action": "error",
                        "agentdeck.guardrail.reasons": [reason],
                    },
                }
            )


def _raise_score(attributes: dict[str, Any], verdict: Verdict) -> None:
    """Keep the higher score (and its threshold) on an `allow` event already kept."""
    if verdict.score is None:
        return
    score = round(verdict.score, 4)
    if score > attributes.get("agentdeck.guardrail.score", -1.0):
        attributes["agentdeck.guardrail.score"] = score
        if verdict.threshold is not None:
            attributes["agentdeck.guardrail.threshold"] = verdict.threshold


def blocked(stage: str, use: ActiveGuardrail, verdict: Verdict) -> GuardrailBlockedError:
    """The client's error for a block: the guardrail, the stage and its reasons."""
    where = {"input": "the request", "output": "the answer", "stream": "the streamed answer"}
    reasons = "; ".join(verdict.reasons) or "no reason given"
    return GuardrailBlockedError(
        f"guardrail {verdict.guardrail!r} blocked {where.get(stage, stage)}: {reasons}",
        param=verdict.guardrail,
        code=BLOCK_CODES.get(use.type, "guardrail_blocked"),
    )


def strongest(actions: Sequence[Action]) -> Action:
    """The most severe of `actions` (allow when there are none)."""
    return max(actions, key=SEVERITY.__getitem__, default="allow")
