"""Reading `agentdeck.yaml` with line numbers, so every problem names its place in the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Problem = tuple[str, int | None, str]


class ConfigFileError(Exception):
    """A config that cannot be read, parsed or validated; `problems` are (path, line, message)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}:{line or '?'}: {path}: {msg}" for path, line, msg in problems]
        super().__init__("invalid configuration\n" + "\n".join(lines))


@dataclass(frozen=True)
class ConfigDocument:
    """A parsed config file: its data and the YAML node tree that knows the lines."""

    path: Path
    data: dict[str, Any]
    root: yaml.Node | None

    def line_of(self, location: tuple[int | str, ...]) -> int | None:
        """The 1-based line of the deepest node on `location` that exists in the file."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in location:
            found = _child(node, part)
            if found is None:
                break
            anchor, node = found
            line = anchor.start_mark.line + 1
        return line


def _child(node: yaml.Node | None, part: int | str) -> tuple[yaml.Node, yaml.Node] | None:
    """The node at `part` and the node whose line names it: a mapping key, or the list item."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part], node.value[part]
    return None


def read_config_file(path: Path) -> ConfigDocument:
    """Parse a YAML config file; raise ConfigFileError naming the line of any syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(
            str(path), [("(file)", None, f"cannot read: {exc.strerror}")]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(str(path), [("(file)", None, "not UTF-8 text")]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigFileError(str(path), [("(syntax)", line, str(exc.problem))]) from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(str(path), [("(syntax)", None, str(exc))]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            str(path), [("(root)", 1, "the file must hold a mapping of sections")]
        )
    return ConfigDocument(path=path, data=data, root=root)


def validation_problems(exc: ValidationError, document: ConfigDocument | None) -> list[Problem]:
    """Turn pydantic errors into (dotted path, line in the file, message) triples."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        location = tuple(error["loc"])
        dotted = ".".join(str(part) for part in location) or "(root)"
        line = None
        if document is not None and _from_file(document.data, location, error):
            line = document.line_of(location)
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append((dotted, line, message))
    return problems


def _from_file(data: Any, location: tuple[int | str, ...], error: Any) -> bool:
    """Whether the value pydantic rejected is the file's, not one from the environment or flags.

    Errors without a value of their own (a missing field, a check of the whole tree) point at
    the deepest place the file has on their path.
    """
    if error["type"] == "missing" or not location:
        return True
    node: Any = data
    for part in location:
        if not isinstance(node, dict | list):
            return False
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return False
    return bool(node == error.get("input"))
