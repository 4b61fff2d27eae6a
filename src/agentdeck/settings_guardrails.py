"""Settings of guardrails: the named guardrails and the policies that say which run on the
inputs, outputs and streams of which projects, model aliases and routes. Part of the one
settings tree that `agentdeck.settings.Settings` assembles."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["allow", "flag", "redact", "block"]
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
ROUTES = ("chat", "messages", "embeddings")


class GuardrailDefinition(BaseModel):
    """A named guardrail: its type (a built-in, or an `agentdeck.guardrails` entry point)
    and that type's options."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, description="pii, secrets, injection, canary, json_schema, "
                      "webhook, or an entry point's name")  # fmt: skip
    options: dict[str, Any] = Field(default_factory=dict, description="the type's options")


class GuardrailUse(BaseModel):
    """One guardrail in a policy, and what happens when it finds something."""

    model_config = ConfigDict(extra="forbid")

    guardrail: str = Field(min_length=1, description="a definition's name or a built-in type")
    mode: Mode | None = Field(
        default=None,
        description="allow, flag (record only), redact (placeholders), block; default: what "
        "the guardrail suggests",
    )


class Sanitize(BaseModel):
    """Changes made to every output text after the guardrails."""

    model_config = ConfigDict(extra="forbid")

    strip_control: bool = Field(
        default=False, description="remove control characters other than tab and newlines"
    )
    html_escape: bool = Field(default=False, description="escape <, >, & and quotes (for UIs)")


class GuardrailPolicy(BaseModel):
    """Which guardrails run where. It applies to the calls whose project, alias and route
    match one of its patterns (globs; an empty list matches all); of the policies that apply
    to a call, the most specific wins (the most non-empty lists), then the first listed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    projects: list[str] = Field(default_factory=list, description="project id globs")
    aliases: list[str] = Field(default_factory=list, description="model alias globs")
    routes: list[Literal["chat", "messages", "embeddings"]] = Field(default_factory=list)
    input: list[GuardrailUse] = Field(default_factory=list, description="on request texts")
    output: list[GuardrailUse] = Field(default_factory=list, description="on whole answers")
    stream: list[GuardrailUse] | None = Field(
        default=None, description="on streamed answers, window by window; default: `output`"
    )
    sanitize: Sanitize = Field(default_factory=Sanitize)

    @property
    def stream_uses(self) -> list[GuardrailUse]:
        """The guardrails of streamed answers."""
        return self.output if self.stream is None else self.stream


class GuardrailSettings(BaseModel):
    """Guardrails on gateway inputs and outputs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="apply the policies; off, none runs")
    definitions: dict[str, GuardrailDefinition] = Field(
        default_factory=dict,
        description="named guardrails with options; each built-in type is also usable by its "
        "type name with default options",
    )
    policies: list[GuardrailPolicy] = Field(default_factory=list)
    canary_secret_env: str | None = Field(
        default=None,
        description="environment variable holding the key canary tokens are derived from; "
        "default: derived from the installation id",
    )
    stream_window_chars: int = Field(
        default=256, ge=16, le=65_536,
        description="most characters of a stream held back at once so a finding cut between "
        "chunks is seen whole",
    )  # fmt: skip

    @field_validator("definitions")
    @classmethod
    def _names(cls, found: dict[str, GuardrailDefinition]) -> dict[str, GuardrailDefinition]:
        bad = [name for name in found if not _NAME.match(name)]
        if bad:
            raise ValueError(f"guardrail names must match {_NAME.pattern}: {bad}")
        return found

    @model_validator(mode="after")
    def _unique_policies(self) -> GuardrailSettings:
        seen: set[str] = set()
        for policy in self.policies:
            if policy.name in seen:
                raise ValueError(f"two policies are named {policy.name!r}")
            seen.add(policy.name)
        return self
