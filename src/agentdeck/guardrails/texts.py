"""The texts of a request that input guardrails judge, each with where it came from and how
to put a redacted version back, and the generated texts of a whole answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from agentdeck.guardrails.models import Source

_SOURCES: dict[str, Source] = {
    "user": "user",
    "system": "system",
    "developer": "system",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


@dataclass(slots=True)
class TextSlot:
    """One text of a request or an answer, and the way to replace it."""

    text: str
    source: Source
    put: Callable[[str], None]


def _setter(holder: Any, key: Any) -> Callable[[str], None]:
    def put(value: str) -> None:
        holder[key] = value

    return put


def request_texts(body: dict[str, Any], route: str) -> Iterator[TextSlot]:
    """Every text of a chat request's messages (string contents and text parts), or of an
    embeddings request's input."""
    if route == "embeddings":
        given = body.get("input")
        if isinstance(given, str):
            yield TextSlot(given, "user", _setter(body, "input"))
        elif isinstance(given, list):
            for index, item in enumerate(given):
                if isinstance(item, str):
                    yield TextSlot(item, "user", _setter(given, index))
        return
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        source = _SOURCES.get(str(message.get("role")), "user")
        content = message.get("content")
        if isinstance(content, str):
            yield TextSlot(content, source, _setter(message, "content"))
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield TextSlot(part["text"], source, _setter(part, "text"))


def answer_texts(answer: dict[str, Any]) -> Iterator[TextSlot]:
    """The generated message contents of a whole OpenAI-format chat answer."""
    choices = answer.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            yield TextSlot(message["content"], "assistant", _setter(message, "content"))


def response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat request asks its answer to follow: `response_format`'s
    `json_schema.schema`, or `{}` (any JSON) for `json_object`; None when it asks none."""
    wanted = body.get("response_format")
    if not isinstance(wanted, dict):
        return None
    if wanted.get("type") == "json_object":
        return {}
    spec = wanted.get("json_schema")
    if wanted.get("type") == "json_schema" and isinstance(spec, dict):
        schema = spec.get("schema")
        return schema if isinstance(schema, dict) else {}
    return None
