"""Conditional routing: an alias with rules picks, per request, the alias that serves it.

Rules are tried in order; the first whose every condition holds wins, else the default.
Conditions: estimated prompt tokens (min/max), a tag (request `metadata.tags` or the
`x-agentdeck-tags` header), presence of tools or images, a regex over the last user message
(keyword or "complexity" tiers). The decision is returned as `rule>alias` for a header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agentdeck.gateway.models import JSON
from agentdeck.gateway.tokens import content_text, count_messages
from agentdeck.settings import ModelAliasSettings, RuleCondition


class RequestFacts:
    """What rules look at, computed once and only when asked for."""

    def __init__(self, body: JSON, tags: Iterable[str]) -> None:
        self._body = body
        self._tags = set(tags)
        metadata = body.get("metadata")
        listed = metadata.get("tags") if isinstance(metadata, dict) else None
        if isinstance(listed, list):
            self._tags.update(str(tag) for tag in listed)
        self._prompt_tokens: int | None = None

    @property
    def tags(self) -> set[str]:
        """Tags from the body's metadata and the header."""
        return self._tags

    @property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens."""
        if self._prompt_tokens is None:
            self._prompt_tokens = count_messages(self._messages())
        return self._prompt_tokens

    def _messages(self) -> list[Any]:
        messages = self._body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def has_tools(self) -> bool:
        """Whether the request offers tools."""
        return bool(self._body.get("tools"))

    @property
    def has_images(self) -> bool:
        """Whether any message carries an image part."""
        return any(
            isinstance(part, dict) and part.get("type") == "image_url"
            for message in self._messages()
            if isinstance(message, dict) and isinstance(message.get("content"), list)
            for part in message["content"]
        )

    @property
    def last_user_text(self) -> str:
        """The text of the last user message."""
        for message in reversed(self._messages()):
            if isinstance(message, dict) and message.get("role") == "user":
                return content_text(message.get("content"))
        return ""


def _holds(condition: RuleCondition, facts: RequestFacts, pattern: re.Pattern[str] | None) -> bool:
    checks = (
        condition.min_prompt_tokens is None or facts.prompt_tokens >= condition.min_prompt_tokens,
        condition.max_prompt_tokens is None or facts.prompt_tokens <= condition.max_prompt_tokens,
        condition.tag is None or condition.tag in facts.tags,
        condition.has_tools is None or facts.has_tools == condition.has_tools,
        condition.has_images is None or facts.has_images == condition.has_images,
        pattern is None or pattern.search(facts.last_user_text) is not None,
    )
    return all(checks)


class RuleSet:
    """The compiled rules of one alias."""

    def __init__(self, spec: ModelAliasSettings) -> None:
        self._rules = [
            (rule, re.compile(rule.when.pattern) if rule.when.pattern else None)
            for rule in spec.rules
        ]
        self._default = spec.default or ""

    def choose(self, facts: RequestFacts) -> tuple[str, str]:
        """(alias to serve the request, the rule that chose it or `default`)."""
        for rule, pattern in self._rules:
            if _holds(rule.when, facts, pattern):
                return rule.route_to, rule.name
        return self._default, "default"
