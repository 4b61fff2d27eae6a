"""What kind of failure an upstream error is, and what may be done about it.

Kinds drive retries (only the transient ones), fallbacks (each kind may have its own list)
and circuit breakers (only failures that say the deployment is unwell count against it).
"""

from __future__ import annotations

import re
from enum import StrEnum

from agentdeck.errors import (
    AgentdeckError,
    ConfigurationError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)


class Failure(StrEnum):
    """A kind of failed call."""

    RATE_LIMITED = "rate_limited"
    CONTEXT_WINDOW_EXCEEDED = "context_window_exceeded"
    CONTENT_FILTERED = "content_filtered"
    UPSTREAM_DOWN = "upstream_down"
    UPSTREAM_REFUSED = "upstream_refused"  # our credential, account or spend cap refused
    CLIENT_ERROR = "client_error"  # the request itself is wrong: the same answer anywhere
    NOT_OURS = "not_ours"  # agentdeck's own refusal (budget, auth, config): never retried


_CONTEXT = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|prompt is too long"
    r"|exceeds the maximum number of tokens|input is too long|reduce the length",
    re.IGNORECASE,
)
_FILTERED = re.compile(r"content[_ ]?filter|content management policy|safety", re.IGNORECASE)
_QUOTA = re.compile(r"insufficient[_ ]quota|billing|credit balance|spend(ing)? (cap|limit)",
                    re.IGNORECASE)  # fmt: skip


def classify(error: AgentdeckError) -> Failure:
    """The kind of failure `error` is."""
    if isinstance(error, ConfigurationError) or not isinstance(error, UpstreamError):
        return Failure.NOT_OURS
    if isinstance(error, UpstreamTimeoutError):
        return Failure.UPSTREAM_DOWN
    status = error.upstream_status
    if status == 429:
        # A provider's spend cap also answers 429, but waiting will not lift it.
        if _QUOTA.search(f"{error.wire_code} {error.message}"):
            return Failure.UPSTREAM_REFUSED
        return Failure.RATE_LIMITED
    if isinstance(error, UpstreamStatusError) and status is not None and 400 <= status < 500:
        text = f"{error.wire_code} {error.message}"
        if status in (400, 413, 422) and _CONTEXT.search(text):
            return Failure.CONTEXT_WINDOW_EXCEEDED
        if status in (400, 422) and _FILTERED.search(text):
            return Failure.CONTENT_FILTERED
        if status in (401, 402, 403, 404):
            return Failure.UPSTREAM_REFUSED  # our credential or config: elsewhere, not again
        return Failure.CLIENT_ERROR
    return Failure.UPSTREAM_DOWN  # 5xx, connection errors, broken answers


def retriable(kind: Failure) -> bool:
    """Whether trying again (after a pause) may succeed: never for a refused credential or
    spend cap, nor for the caller's own errors."""
    return kind in (Failure.RATE_LIMITED, Failure.UPSTREAM_DOWN)


def fallback_list(kind: Failure) -> str:
    """The `fallbacks` entry that applies to a kind of failure."""
    return Failure.UPSTREAM_DOWN.value if kind is Failure.UPSTREAM_REFUSED else kind.value


def counts_against_breaker(kind: Failure) -> bool:
    """Whether the failure says the deployment itself is unwell."""
    return kind is Failure.UPSTREAM_DOWN


def retry_after_s(error: AgentdeckError) -> float | None:
    """The upstream's Retry-After, in seconds, when it sent one as a number."""
    value = getattr(error, "retry_after", None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from model APIs; the backoff applies instead
