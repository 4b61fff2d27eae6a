"""The difference between two versions' contents: a unified diff of a canonical YAML-like
text (what a reviewer reads) and the changed JSON paths with their values (what a program
reads)."""

from __future__ import annotations

import difflib
from typing import Any

import orjson

# The content's fields in the order a reader expects them; any other key follows, sorted.
FIELD_ORDER = ("type", "model", "params", "variables", "template", "messages", "tools", "metadata")


def _scalar(value: Any) -> str:
    return orjson.dumps(value).decode()


def _keys(value: dict[str, Any], top: bool) -> list[str]:
    if not top:
        return sorted(value)
    known = [key for key in FIELD_ORDER if key in value]
    return known + sorted(key for key in value if key not in FIELD_ORDER)


def _lines(value: Any, indent: str, top: bool = False) -> list[str]:
    """`value` as YAML-like lines: keys in a fixed order, a string of several lines as a
    literal block, every other scalar as JSON (so `null`, numbers and strings stay apart)."""
    out: list[str] = []
    if isinstance(value, dict):
        for key in _keys(value, top):
            out += _entry(f"{indent}{_name(key)}:", value[key], indent + "  ")
    elif isinstance(value, list):
        for item in value:
            out += _entry(f"{indent}-", item, indent + "  ")
    else:
        out.append(f"{indent}{_scalar(value)}")
    return out


def _name(key: str) -> str:
    plain = key.replace("_", "").replace("-", "").replace(".", "").isalnum()
    return key if plain else _scalar(key)


def _entry(head: str, value: Any, inner: str) -> list[str]:
    if isinstance(value, str) and "\n" in value:
        return [f"{head} |", *(f"{inner}{line}" for line in value.split("\n"))]
    if isinstance(value, dict | list) and value:
        return [head, *_lines(value, inner)]
    return [f"{head} {_scalar(value)}"]


def canonical_text(content: dict[str, Any]) -> str:
    """The content as canonical YAML-like text, one field per line."""
    return "\n".join(_lines(content, "", top=True)) + "\n"


def unified(
    content_a: dict[str, Any], content_b: dict[str, Any], from_name: str, to_name: str
) -> str:
    """A unified diff between the canonical texts of two contents (empty when equal)."""
    lines = difflib.unified_diff(
        canonical_text(content_a).split("\n")[:-1],
        canonical_text(content_b).split("\n")[:-1],
        fromfile=from_name,
        tofile=to_name,
        lineterm="",
    )
    return "".join(f"{line}\n" for line in lines)


_ABSENT = object()


def _walk(
    a: Any, b: Any, path: tuple[str | int, ...], out: list[tuple[tuple[str | int, ...], Any, Any]]
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            _walk(a.get(key, _ABSENT), b.get(key, _ABSENT), (*path, key), out)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _walk(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT, (*path, i), out)
    elif a != b or type(a) is not type(b):
        out.append((path, a, b))


def json_changes(content_a: dict[str, Any], content_b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every changed leaf as `{"path", "from", "to"}` with a dotted path (list items by
    index), sorted by path (indexes in numeric order); an absent side is null."""
    found: list[tuple[tuple[str | int, ...], Any, Any]] = []
    _walk(content_a, content_b, (), found)
    found.sort(
        key=lambda item: [
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in item[0]
        ]
    )
    return [
        {
            "path": ".".join(str(part) for part in path),
            "from": None if a is _ABSENT else a,
            "to": None if b is _ABSENT else b,
        }
        for path, a, b in found
    ]
