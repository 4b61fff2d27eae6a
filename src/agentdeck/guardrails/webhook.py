"""A guardrail answered by an external HTTP service: agentdeck POSTs the text and its context,
the service answers a verdict. A service that is slow, down or answers nonsense is a
failure, and `fail` says what a failure means: `closed` (default) blocks, `open` lets the
text through (recorded as flagged).

Request: `{"stage", "text", "context": {"tenant_id", "project_id", "alias", "route",
"source", "request_id", "prompt_name"}}`. Answer: `{"action": "allow|flag|redact|block",
"reasons": [...], "redactions": [{"start", "end", "kind"}], "score": 0.9}` (only
`action` is required).
"""

from __future__ import annotations

import logging
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from agentdeck.errors import ConfigurationError
from agentdeck.guardrails.models import SEVERITY, Action, CheckContext, Redaction, Verdict
from agentdeck.settings import read_credential

log = logging.getLogger(__name__)
# A verdict's finding that marks a failure let through: flagged whatever the policy's mode.
FAILED_OPEN = "service_failed_open"
_KNOWN = ("url", "timeout_s", "fail", "headers", "headers_env", "window_chars")


class GuardrailServiceError(Exception):
    """The service gave no usable verdict."""


def _parse(name: str, body: bytes, text: str) -> Verdict:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GuardrailServiceError(f"the answer is not JSON: {exc}") from exc
    if not isinstance(answer, dict) or answer.get("action") not in SEVERITY:
        raise GuardrailServiceError("the answer has no action among allow, flag, redact, block")
    action: Action = answer["action"]
    reasons = answer.get("reasons") or ()
    if not isinstance(reasons, list | tuple) or not all(isinstance(r, str) for r in reasons):
        raise GuardrailServiceError("reasons must be a list of strings")
    spans = []
    for item in answer.get("redactions") or ():
        start, end, kind = (item.get(k) for k in ("start", "end", "kind"))
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(kind, str)):
            raise GuardrailServiceError("a redaction needs integer start and end and a kind")
        if not 0 <= start < end <= len(text) or not kind.isidentifier():
            raise GuardrailServiceError(f"redaction {start}..{end} {kind!r} is out of the text")
        spans.append(Redaction(start, end, kind.upper()))
    spans.sort(key=lambda s: s.start)
    if any(a.end > b.start for a, b in pairwise(spans)):
        raise GuardrailServiceError("redactions overlap")
    score = answer.get("score")
    return Verdict(
        name, action, tuple(reasons)[:10], tuple(spans),
        score=float(score) if isinstance(score, int | float) else None,
    )  # fmt: skip


def _number(name: str, options: dict[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"guardrail {name!r}: {key} must be a number")
    return float(value)


def _strings(name: str, options: dict[str, Any], key: str) -> dict[str, str]:
    value = options.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(f"guardrail {name!r}: {key} must map names to strings")
    return value


class WebhookGuardrail:
    """Asks an external service for each verdict, within a time limit."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(_KNOWN))
        if unknown:
            raise ConfigurationError(f"guardrail {name!r}: unknown options {unknown}")
        url = options.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"guardrail {name!r}: url must be an http(s) URL")
        self.name = name
        self.url = str(url)
        self.timeout_s = _number(name, options, "timeout_s", 1.0)
        if not 0 < self.timeout_s <= 60:
            raise ConfigurationError(f"guardrail {name!r}: timeout_s must be in (0, 60]")
        self.fail = options.get("fail", "closed")
        if self.fail not in ("open", "closed"):
            raise ConfigurationError(f"guardrail {name!r}: fail must be open or closed")
        self.window_chars = int(_number(name, options, "window_chars", 256))
        self.headers = {"content-type": "application/json", **_strings(name, options, "headers")}
        for header, variable in _strings(name, options, "headers_env").items():
            value = read_credential(variable)
            if value is None:
                raise ConfigurationError(
                    f"guardrail {name!r}: environment variable {variable} is not set"
                )
            self.headers[header] = value
        self._session: aiohttp.ClientSession | None = None

    async def _ask(self, stage: str, text: str, context: CheckContext) -> Verdict:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        payload = {
            "stage": stage,
            "text": text,
            "context": {
                "tenant_id": context.tenant_id,
                "project_id": context.project_id,
                "alias": context.alias,
                "route": context.route,
                "source": context.source,
                "request_id": context.request_id,
                "prompt_name": context.prompt_name,
            },
        }
        try:
            async with self._session.post(
                self.url, data=orjson.dumps(payload), headers=self.headers
            ) as response:
                body = await response.read()
                if response.status != 200:
                    raise GuardrailServiceError(f"the service answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GuardrailServiceError(
                f"the service did not answer within {self.timeout_s:g}s: {type(exc).__name__}"
            ) from exc
        return _parse(self.name, body, text)

    async def _judge(self, stage: str, text: str, context: CheckContext) -> Verdict:
        try:
            return await self._ask(stage, text, context)
        except GuardrailServiceError as exc:
            log.warning("guardrail %s: %s (fail %s)", self.name, exc, self.fail)
            reason = f"the guardrail service failed: {exc}"
            if self.fail == "open":
                return Verdict(self.name, "flag", (reason,), findings={FAILED_OPEN: 1})
            return Verdict(self.name, "block", (reason,))

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        """The service's verdict on an input text."""
        return await self._judge("input", text, context)

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        """The service's verdict on an answer."""
        return await self._judge("output", text, context)

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        """The service's verdict on a stream window."""
        return await self._judge("stream", window, context)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
