"""Types that flow through the gateway pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentdeck.guardrails.pipeline import CallGuard

JSON = dict[str, Any]


@dataclass(slots=True)
class Usage:
    """Token counts for one call; `counted` is True when agentdeck estimated them itself.

    `input_tokens` includes the cached ones: `cached_input_tokens` were read from the
    provider's prompt cache and `cache_write_tokens` written to it, each priced on its own.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    counted: bool = False

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Read an OpenAI `usage` object; None when it is absent or malformed."""
        if not isinstance(usage, dict):
            return None
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens", 0))
        if prompt is None or completion is None:
            return None
        details = usage.get("prompt_tokens_details")
        if not isinstance(details, dict):
            return cls(prompt, completion)
        cached = _count(details.get("cached_tokens")) or 0
        written = _count(details.get("cache_write_tokens")) or 0
        return cls(prompt, completion, min(cached, prompt), min(written, prompt - cached))


def _count(value: Any) -> int | None:
    """A token count as reported: a non-negative integer, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


@dataclass(slots=True)
class ChatReply:
    """A complete (non-streamed) chat answer in OpenAI format, as raw JSON and its usage."""

    body: bytes
    usage: Usage
    model: str


@dataclass(slots=True)
class StreamEvent:
    """One server-sent event of an OpenAI-format stream: its raw data and the parsed chunk."""

    data: bytes
    chunk: JSON


@dataclass(slots=True)
class EmbeddingReply:
    """An OpenAI-format embeddings answer."""

    body: bytes
    usage: Usage


MAX_CONTENT_CHARS = 100_000  # of input, and of output, kept for one call's span


@dataclass(slots=True)
class CallContent:
    """A call's input and generated output kept for its span, when its project captures
    content; output gathers chunk by chunk up to `MAX_CONTENT_CHARS`, nothing more."""

    input: Any
    redact: Callable[[str], str] | None = None
    output: list[str] = field(default_factory=list)
    size: int = 0

    def add_output(self, text: str) -> None:
        """Keep `text` (or what fits of it)."""
        if text and self.size < MAX_CONTENT_CHARS:
            piece = text[: MAX_CONTENT_CHARS - self.size]
            self.output.append(piece)
            self.size += len(piece)


@dataclass(slots=True)
class CallRecord:
    """What the gateway learned about one call: where it went, what it used, what it cost."""

    request_id: str
    alias: str
    deployment_id: str = ""
    tenant_id: str = "default"  # the caller's tenant, once authenticated
    usage: Usage = field(default_factory=Usage)
    cost_micros: int = 0
    attempts: int = 0
    path: list[str] = field(default_factory=list)  # aliases tried, fallbacks after the first
    cache_bypass: bool = False  # the client asked not to use the cache
    tags: tuple[str, ...] = ()  # from the x-agentdeck-tags header
    route: str | None = None  # "rule>alias" when a routing rule chose the alias
    cache: str | None = None  # "hit" or "miss" when the cache applied
    # For the call's span:
    requested_model: str = ""  # as the client sent it (rules may change `alias`)
    operation: str = "chat"  # gen_ai.operation.name: chat | embeddings
    started_ns: int = 0  # wall clock, when the request was read
    trace_id: str = ""  # the client's trace (W3C traceparent) or a new one
    span_id: str = ""
    parent_span_id: str | None = None  # the client's span, when it sent a traceparent
    session_id: str | None = None  # x-agentdeck-session-id
    end_user: str | None = None  # the request's `user` field, or x-agentdeck-user
    stream: bool = False
    provider: str | None = None  # of the deployment that answered
    response_model: str | None = None
    outcome: str = "unfinished"  # ok, error, or how a stream ended; unfinished: cancelled
    error: str | None = None  # what went wrong, when something did
    content: CallContent | None = None  # only when the project captures content
    guard: CallGuard | None = None  # the guardrails of the call, when a policy applies
    prompt_name: str | None = None  # the registry prompt the messages were rendered from
    prompt_version: int | None = None
