"""The `Guardrail` protocol and what flows through it: the context of a check and the verdict.

A guardrail reports what it found; the project's policy decides what happens (its `mode`):
`allow` lets the text pass, `flag` lets it pass and records the finding, `redact` replaces the
reported spans by typed placeholders (`[EMAIL_1]`), `block` refuses the request or ends the
stream. Placeholders are numbered by the pipeline, not by the guardrail, so numbering holds
across the guardrails of a text and across the windows of a stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Action = Literal["allow", "flag", "redact", "block"]
Stage = Literal["input", "output", "stream"]
# Where an input text came from: injection checks weigh tool outputs and retrieved text too.
Source = Literal["user", "system", "assistant", "tool", "retrieved"]
SEVERITY: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "block": 3}


@dataclass(frozen=True, slots=True)
class Redaction:
    """A span of the checked text to replace by the placeholder of `kind` (`[KIND_n]`)."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a guardrail may know about the text it checks."""

    tenant_id: str = "default"
    project_id: str = "default"
    alias: str = ""
    route: str = "chat"  # chat | messages | embeddings
    stage: Stage = "input"
    source: Source = "user"
    request_id: str | None = None
    prompt_name: str | None = None
    canary: str | None = None  # the prompt's canary token, when its system prompt holds one
    response_schema: dict[str, Any] | None = None  # the JSON schema the request asked for


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one guardrail found in one text.

    `action` is what the guardrail suggests when it found something (`allow` when it found
    nothing); the policy's mode for the guardrail replaces it. `redactions` are spans of the
    checked text, in order and not overlapping; `score` is set by scoring guardrails
    (injection), with the threshold it was held against in `threshold`.
    """

    guardrail: str
    action: Action = "allow"
    reasons: tuple[str, ...] = ()
    redactions: tuple[Redaction, ...] = ()
    score: float | None = None
    threshold: float | None = None
    findings: dict[str, int] = field(default_factory=dict)  # kind -> how many

    @property
    def triggered(self) -> bool:
        """Whether the guardrail found anything."""
        return self.action != "allow"


@runtime_checkable
class Guardrail(Protocol):
    """A check on input texts, output texts and stream windows.

    Built-ins and third-party guardrails (entry-point group `agentdeck.guardrails`) are built
    as `factory(name, options)` and implement this protocol the same way.
    """

    name: str
    # How many trailing characters of a stream to hold back so a finding cut between two
    # chunks is still seen whole (0: each window is judged as it is).
    window_chars: int

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        """Judge one input text (a message's text, a tool output, retrieved text)."""
        ...

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        """Judge a whole generated output."""
        ...

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        """Judge a stream window: the held-back tail of earlier chunks plus the new chunk.
        Redactions are spans of `window`."""
        ...
