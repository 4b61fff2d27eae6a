"""Prompt files: one YAML file per prompt, read and checked (with file and line) before
anything is sent, and written back in a stable form so that a pull then a push changes
nothing. The files of `agentdeck prompts push`, `pull` and `diff`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
# The server reads `a/versions` as the versions of `a`: such names are refused there too.
RESERVED_SEGMENTS = frozenset({"versions", "labels", "diff", "resolve", "render", ".", ".."})
ROLES = ("system", "developer", "user", "assistant")
CONTENT_FIELDS = ("type", "model", "params", "variables", "template", "messages", "tools")
FILE_FIELDS = ("name", *CONTENT_FIELDS, "metadata")
# What the server stores for a field a file leaves out; files are written without them.
DEFAULTS: dict[str, Any] = {
    "template": None,
    "messages": None,
    "variables": {"type": "object"},
    "params": {},
    "model": None,
    "tools": None,
    "metadata": {},
}


@dataclass
class PromptFile:
    """One prompt file: where it is, the prompt's name and its content (defaults filled in)."""

    path: Path
    name: str
    content: dict[str, Any]


class PromptFileError(Exception):
    """A prompt file that cannot be pushed: where and why."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


def canonical(content: dict[str, Any]) -> dict[str, Any]:
    """The content as the server stores it: every field present, defaults filled in."""
    filled = {field: content.get(field, DEFAULTS.get(field)) for field in (*DEFAULTS, "type")}
    filled["type"] = content.get("type") or ("chat" if content.get("messages") else "text")
    return filled


def slim(content: dict[str, Any]) -> dict[str, Any]:
    """The content as a file holds it: fields in a fixed order, defaults left out."""
    return {
        field: content[field]
        for field in FILE_FIELDS
        if field in content and content[field] != DEFAULTS.get(field, ...)
    }


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so templates read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # PyYAML quotes it instead when `|` cannot hold it
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(document: dict[str, Any]) -> str:
    """`document` as YAML, keys in the order given, no line folding (stable diffs)."""
    text: str = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000
    )
    return text


def _line(node: yaml.Node | None, *path: str | int) -> int | None:
    """The 1-based line of the value at `path` in a composed document (nearest known)."""
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if step < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _problems(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every (path, message) wrong with a file's fields."""
    for key in data:
        if key not in FILE_FIELDS:
            yield (key,), f"unknown field {key!r} (allowed: {', '.join(FILE_FIELDS)})"
    name = data.get("name")
    if name is not None and not (isinstance(name, str) and _name_ok(name)):
        yield ("name",), f"invalid prompt name {name!r}"
    kind = canonical(data)["type"]
    if kind not in ("chat", "text"):
        yield ("type",), f"type must be chat or text, not {kind!r}"
    for key in ("variables", "params", "metadata"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            yield (key,), f"{key} must be a mapping"
    if data.get("model") is not None and not isinstance(data["model"], str):
        yield ("model",), "model must be a string (a model alias)"
    tools = data.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        yield ("tools",), "tools must be a list of tool objects"
    yield from _template_problems(data, kind)


def _template_problems(
    data: dict[str, Any], kind: str
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    other = "template" if kind == "chat" else "messages"
    if data.get(other) is not None:
        yield (other,), f"a {kind} prompt has no {other}"
    if kind == "text":
        if not isinstance(data.get("template"), str):
            yield ("template",), "a text prompt needs a template (a string)"
        return
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        yield ("messages",), "a chat prompt needs messages (a non-empty list)"
        return
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            yield ("messages", i), "a message is a mapping of role and content only"
        elif message.get("role") not in ROLES:
            yield ("messages", i, "role"), f"role must be one of {', '.join(ROLES)}"
        elif not isinstance(message.get("content"), str):
            yield ("messages", i, "content"), "content must be a string"


def _name_ok(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and not any(
        part in RESERVED_SEGMENTS or not part for part in name.split("/")
    )


def _check_as_the_server_does(path: Path, node: yaml.Node | None, content: dict[str, Any]) -> None:
    """The server's own check of a version's content (templates compile in its sandbox, the
    variables' schema is valid and declares what the templates use), run before sending."""
    from agentdeck.errors import InvalidRequestError
    from agentdeck.prompts.render import check_content

    try:
        check_content(content)
    except InvalidRequestError as exc:
        where = tuple(int(p) if p.isdigit() else p for p in (exc.param or "").split(".") if p)
        raise PromptFileError(path, _line(node, *where), exc.message) from None


def load_file(root: Path, path: Path) -> PromptFile:
    """The prompt in `path` (named after its path under `root` unless it has `name`)."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PromptFileError(
            path, mark.line + 1 if mark else None, f"not YAML: {exc.problem}"
        ) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PromptFileError(path, None, f"cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise PromptFileError(path, 1, "a prompt file is a mapping of content fields")
    for where, message in _problems(data):
        field = ".".join(str(p) for p in where)
        raise PromptFileError(path, _line(node, *where), f"{field}: {message}")
    _check_as_the_server_does(path, node, canonical(data))
    name = data.get("name") or path.relative_to(root).with_suffix("").as_posix()
    if not _name_ok(name):
        raise PromptFileError(path, None, f"invalid prompt name {name!r} (from the path): set name")
    return PromptFile(path, name, canonical(data))


def prompt_paths(root: Path) -> list[Path]:
    # Hidden directories (.git, .github) hold other tools' YAML, never prompts.
    found = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(p for p in found if not any(s.startswith(".") for s in p.relative_to(root).parts))
