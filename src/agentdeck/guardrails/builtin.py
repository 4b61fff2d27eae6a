"""The built-in guardrails: personal data and secrets, prompt injection, and answers that
must follow the JSON schema the request asked for. Each is built as `factory(name, options)`,
as a third-party guardrail is."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentdeck.errors import ConfigurationError
from agentdeck.guardrails.injection import DEFAULT_THRESHOLD, injection_score
from agentdeck.guardrails.models import CheckContext, Redaction, Verdict
from agentdeck.guardrails.pii import MAX_MATCH_CHARS, PII_KINDS, find_pii

ALLOW_SOURCES = ("user", "system", "assistant", "tool", "retrieved")
# The kinds the `secrets` guardrail looks for: credentials, not personal data.
SECRET_KINDS = tuple(kind for kind in PII_KINDS if kind in ("SECRET", "HIGH_ENTROPY"))


def _options(name: str, options: dict[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigurationError(
            f"guardrail {name!r}: unknown options {unknown}; known: {sorted(known)}"
        )


def _kinds(name: str, given: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if given is None:
        return default
    if not isinstance(given, list) or not all(isinstance(k, str) for k in given):
        raise ConfigurationError(f"guardrail {name!r}: kinds must be a list of names")
    unknown = sorted(set(given) - set(PII_KINDS))
    if unknown:
        raise ConfigurationError(
            f"guardrail {name!r}: unknown kinds {unknown}; known: {list(PII_KINDS)}"
        )
    return tuple(given)


class PiiGuardrail:
    """Personal data and secrets (emails, phones, cards, IBANs, SSNs, IP addresses, API
    keys, high-entropy tokens): suggests `redact`, with a span per finding."""

    def __init__(self, name: str, options: dict[str, Any], default: tuple[str, ...] = PII_KINDS):
        _options(name, options, ("kinds",))
        self.name = name
        self.kinds = _kinds(name, options.get("kinds"), default)
        self.window_chars = MAX_MATCH_CHARS

    def _verdict(self, text: str) -> Verdict:
        spans = find_pii(text, self.kinds)
        if not spans:
            return Verdict(self.name)
        counts: dict[str, int] = {}  # a Counter costs more to make than this loop
        for span in spans:
            counts[span.kind] = counts.get(span.kind, 0) + 1
        reasons = tuple(f"{counts[kind]} {kind}" for kind in sorted(counts))
        return Verdict(self.name, "redact", reasons, tuple(spans), findings=counts)

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        """Find personal data and secrets in an input text."""
        return self._verdict(text)

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        """Find personal data and secrets in an answer."""
        return self._verdict(text)

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        """Find personal data and secrets in a stream window."""
        return self._verdict(window)


def secrets_guardrail(name: str, options: dict[str, Any]) -> PiiGuardrail:
    """The PII guardrail limited to secrets (API keys, tokens, private keys)."""
    return PiiGuardrail(name, options, SECRET_KINDS)


class InjectionGuardrail:
    """Prompt injection in user input, tool outputs and retrieved text (after Unicode
    normalization): suggests `block` when the score reaches the threshold."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        _options(name, options, ("threshold", "sources"))
        self.name = name
        threshold = options.get("threshold", DEFAULT_THRESHOLD)
        if not isinstance(threshold, int | float) or not 0 < threshold <= 1:
            raise ConfigurationError(f"guardrail {name!r}: threshold must be in (0, 1]")
        self.threshold = float(threshold)
        sources = options.get("sources", ["user", "tool", "retrieved"])
        if not isinstance(sources, list) or not set(sources) <= set(ALLOW_SOURCES):
            raise ConfigurationError(
                f"guardrail {name!r}: sources must be a list of {list(ALLOW_SOURCES)}"
            )
        self.sources = frozenset(sources)
        self.window_chars = 512

    def _verdict(self, text: str) -> Verdict:
        result = injection_score(text)
        if result.score < self.threshold:
            return Verdict(self.name, score=result.score, threshold=self.threshold)
        reasons = result.signals or ("injection score over the threshold",)
        return Verdict(
            self.name, "block", tuple(reasons), score=result.score, threshold=self.threshold,
            findings={"injection": 1},
        )  # fmt: skip

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        """Score an input text from one of the guarded sources."""
        if context.source not in self.sources:
            return Verdict(self.name)
        return self._verdict(text)

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        """Score an answer (when a policy guards outputs with it)."""
        return self._verdict(text)

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        """Score a stream window."""
        return self._verdict(window)


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Draft202012Validator:
    schema = orjson.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _where(path: Iterable[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class JsonSchemaGuardrail:
    """An answer to a request with `response_format` `json_schema` (or `json_object`) must
    be JSON that follows the schema: suggests `block` with the first problem's path.
    Whole answers only: a stream is not held back for it."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        _options(name, options, ())
        self.name = name
        self.window_chars = 0

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        """Inputs are not judged."""
        return Verdict(self.name)

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        """Parse the answer and validate it against the requested schema."""
        schema = context.response_schema
        if schema is None:
            return Verdict(self.name)
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return Verdict(self.name, "block", (f"the answer is not valid JSON: {exc}",))
        try:
            validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
        except SchemaError as exc:
            return Verdict(self.name, "block", (f"the requested schema is invalid: {exc.message}",))
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return Verdict(self.name)
        first = errors[0]
        reason = f"the answer does not follow the schema at {_where(first.absolute_path)}: " + (
            first.message
        )
        return Verdict(self.name, "block", (reason,), findings={"schema_errors": len(errors)})

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        """Stream windows are not judged (a partial JSON text is never valid)."""
        return Verdict(self.name)


__all__ = [
    "InjectionGuardrail",
    "JsonSchemaGuardrail",
    "PiiGuardrail",
    "Redaction",
    "secrets_guardrail",
]
