"""Prompt templates: Jinja2 in an immutable sandbox with strict undefined variables and no
autoescaping. A version's content is checked when it is created (templates compile, the
variables' schema is a valid JSON Schema that declares every variable the templates use) and
rendered with variables checked against that schema. Compiled templates are kept per content
hash, so serving a prompt does not compile it again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2
import jsonschema
import orjson
import referencing.exceptions
from jinja2 import StrictUndefined, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator

from agentdeck.errors import InvalidRequestError

if TYPE_CHECKING:  # the module stays light enough for the SDK to render with it
    from agentdeck.prompts.models import Version

MAX_RANGE = 10_000  # the longest `range()` a template may build
MAX_OUTPUT_CHARS = 1_000_000  # per template: a loop may not blow a prompt up without bound
MAX_INT_BITS = 65_536  # the largest integer `*` and `**` may make
COMPILED_MAX = 1024  # compiled contents kept


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with `range`, `*` and `**` bounded so a template cannot allocate
    gigabytes in one expression (repeated text, huge integers)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """`left operator right`, refused when the result would be huge."""
        if _is_int(left) and _is_int(right):
            bits = abs(left).bit_length() * (abs(right) if operator == "**" else 1)
            if bits + abs(right).bit_length() > MAX_INT_BITS:
                raise SecurityError(f"an integer of more than {MAX_INT_BITS} bits")
        if operator == "**":
            return left**right
        for text, times in ((left, right), (right, left)):
            long = isinstance(text, str | list | tuple) and isinstance(times, int)
            if long and len(text) * times > MAX_OUTPUT_CHARS:
                raise SecurityError(f"repetition longer than {MAX_OUTPUT_CHARS}")
        return left * right


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded_range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise SecurityError(f"range longer than {MAX_RANGE}")
    return found


def _environment() -> jinja2.Environment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


# One sandbox for the process: it holds configuration only, and compiled templates are
# keyed by content hash, so apps sharing them cannot see anything of each other.
_ENV = _environment()


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered version: the messages (a text prompt is one user message), the text of a
    text prompt, and the version's model parameters, model alias and tools."""

    messages: list[dict[str, Any]]
    text: str | None
    params: dict[str, Any]
    model: str | None
    tools: list[Any] | None


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    """A content's templates compiled, with what its variables must be."""

    templates: tuple[tuple[str, str, jinja2.Template], ...]  # (role, where, template)
    used: frozenset[str]
    declared: frozenset[str] | None  # the schema's properties; None when it declares none
    required: tuple[str, ...]
    defaults: dict[str, Any]
    validator: Draft202012Validator


def _template_sources(content: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(role, where, source) of every template of the content; 400 for a wrong shape."""
    template, messages = content.get("template"), content.get("messages")
    if content.get("type") == "text":
        if template is None or messages is not None:
            raise InvalidRequestError(
                "a text prompt has a template and no messages", param="template"
            )
        return [("user", "template", template)]
    if template is not None or not messages:
        raise InvalidRequestError(
            "a chat prompt has one or more messages and no template", param="messages"
        )
    return [(m["role"], f"messages.{i}.content", m["content"]) for i, m in enumerate(messages)]


def _refs(schema: Any) -> list[str]:
    """Every `$ref` / `$dynamicRef` value in a schema."""
    if isinstance(schema, dict):
        own = [str(v) for k, v in schema.items() if k in ("$ref", "$dynamicRef")]
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def _schema(content: Mapping[str, Any]) -> tuple[dict[str, Any], Draft202012Validator]:
    schema = content.get("variables") or {"type": "object"}
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(
            f"variables is not a valid JSON Schema: {exc.message}", param="variables"
        ) from None
    remote = sorted(ref for ref in _refs(schema) if not ref.startswith("#"))
    if remote:
        raise InvalidRequestError(
            f"variables may only refer within itself ($ref {remote[0]!r})", param="variables"
        )
    if schema.get("type", "object") != "object":
        raise InvalidRequestError(
            'variables must describe an object ("type": "object")', param="variables"
        )
    return schema, Draft202012Validator(schema)


def compile_content(content: Mapping[str, Any]) -> CompiledPrompt:
    """The content's templates compiled and its variables' schema read; 400 naming the
    template that does not compile or the schema that is not valid."""
    compiled, used = [], set()
    for role, where, source in _template_sources(content):
        try:
            tree = _ENV.parse(source)
            compiled.append((role, where, _ENV.from_string(tree)))
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidRequestError(
                f"{where} does not compile: {exc.message} (line {exc.lineno})", param=where
            ) from None
        # The parser recurses per nesting level, and Python refuses the code generated for
        # blocks nested a hundred deep (too many levels of indentation).
        except (RecursionError, SyntaxError):
            raise InvalidRequestError(f"{where} is nested too deeply", param=where) from None
        used |= meta.find_undeclared_variables(tree)
    schema, validator = _schema(content)
    properties = schema.get("properties")
    declared = frozenset(properties) if isinstance(properties, dict) else None
    defaults = {
        name: spec["default"]
        for name, spec in (properties or {}).items()
        if isinstance(spec, dict) and "default" in spec
    }
    required = tuple(str(name) for name in schema.get("required", ()))
    return CompiledPrompt(tuple(compiled), frozenset(used), declared, required, defaults, validator)


def check_content(content: Mapping[str, Any]) -> CompiledPrompt:
    """`compile_content`, and 400 when a template uses a variable the schema does not declare
    (when it declares properties)."""
    compiled = compile_content(content)
    if compiled.declared is not None:
        undeclared = sorted(compiled.used - compiled.declared)
        if undeclared:
            raise InvalidRequestError(
                f"the template uses variables the schema does not declare: {', '.join(undeclared)}",
                param=f"variables.properties.{undeclared[0]}",
            )
    return compiled


class CompiledCache:
    """Compiled contents by content hash, least recently used dropped past `max_entries`."""

    def __init__(self, max_entries: int = COMPILED_MAX) -> None:
        self._max = max_entries
        self._found: OrderedDict[str, CompiledPrompt] = OrderedDict()
        self._lock = threading.Lock()  # renders may run in worker threads too

    def get(self, digest: str, content: Mapping[str, Any]) -> CompiledPrompt:
        """The compiled content, compiled now if it is not kept."""
        with self._lock:
            found = self._found.get(digest)
            if found is not None:
                self._found.move_to_end(digest)
                return found
        found = compile_content(content)
        with self._lock:
            self._found[digest] = found
            while len(self._found) > self._max:
                self._found.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._found)


COMPILED = CompiledCache()


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def check_variables(compiled: CompiledPrompt, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the templates see (schema defaults filled in); 400 naming missing
    variables, unknown ones, or the first schema violation."""
    given = {str(name): value for name, value in variables.items()}
    seen = compiled.defaults | given
    missing = [name for name in compiled.required if name not in seen]
    missing += sorted(compiled.used - seen.keys() - (compiled.declared or frozenset()))
    if missing:
        missing = list(dict.fromkeys(missing))
        raise InvalidRequestError(
            f"missing variables: {_names(missing)}", param=f"variables.{missing[0]}"
        )
    if compiled.declared is not None:
        unknown = sorted(given.keys() - compiled.declared)
        if unknown:
            raise InvalidRequestError(
                f"unknown variables: {_names(unknown)} (the prompt declares "
                f"{_names(sorted(compiled.declared)) or 'none'})",
                param=f"variables.{unknown[0]}",
            )
    try:
        error = jsonschema.exceptions.best_match(compiled.validator.iter_errors(given))
    except referencing.exceptions.Unresolvable as exc:
        raise InvalidRequestError(
            f"the prompt's variables schema has a $ref that does not resolve: {exc}",
            param="variables",
        ) from None
    if error is not None:
        where = ".".join(["variables", *(str(part) for part in error.absolute_path)])
        raise InvalidRequestError(f"{where}: {error.message}", param=where)
    return seen


def _render(template: jinja2.Template, context: dict[str, Any], where: str) -> str:
    parts, size = [], 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise InvalidRequestError(
                    f"{where} renders longer than {MAX_OUTPUT_CHARS} characters", param=where
                )
            parts.append(chunk)
    except SecurityError as exc:
        raise InvalidRequestError(f"{where} did something unsafe: {exc}", param=where) from None
    except jinja2.UndefinedError as exc:
        raise InvalidRequestError(f"{where}: {exc.message}", param="variables") from None
    # A template is user content: what it does wrong with the variables it is given (a
    # division by zero, a filter on the wrong type) is the caller's 400, not a server error.
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{where} failed: {exc}", param=where) from None
    return "".join(parts)


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (cached versions are shared; callers may change answers)."""
    return orjson.loads(orjson.dumps(value))


def render_content(
    content: Mapping[str, Any], variables: Mapping[str, Any], digest: str | None = None
) -> RenderedPrompt:
    """A version's content rendered with `variables` (compiled once per `digest`, the content
    hash, when one is given); 400 naming missing or unknown variables, a schema violation,
    or a template that fails."""
    compiled = COMPILED.get(digest, content) if digest else compile_content(content)
    context = check_variables(compiled, variables)
    messages = [
        {"role": role, "content": _render(template, context, where)}
        for role, where, template in compiled.templates
    ]
    tools = content.get("tools")
    return RenderedPrompt(
        messages=messages,
        text=messages[0]["content"] if content.get("type") == "text" else None,
        params=_copy(content.get("params") or {}),
        model=content.get("model"),
        tools=_copy(tools) if tools is not None else None,
    )


def render_prompt(version: Version, variables: Mapping[str, Any]) -> RenderedPrompt:
    """The version rendered with `variables` (see `render_content`)."""
    return render_content(version.content, variables, version.content_hash)
