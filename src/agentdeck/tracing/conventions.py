"""Received spans in agentdeck's terms, whichever GenAI conventions their instrumentation
follows: OpenTelemetry's current ones (`gen_ai.provider.name`, `gen_ai.input.messages`), the
older ones (`gen_ai.system`, `gen_ai.usage.prompt_tokens`, per-message events), OpenLLMetry's
(`llm.usage.*`, `gen_ai.prompt.N.*`) and OpenInference's (`llm.*`, `input.value`,
`openinference.span.kind`), so that every one of them lands with operation, provider, model,
tokens, cost, session and user in the same columns.

Content (prompts, completions, tool arguments and results) is kept only when the project's
policy allows; otherwise it is taken out of the attributes and events before storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from agentdeck.tracing.otlp import ReceivedSpan
from agentdeck.tracing.spans import Span

# openinference.span.kind / traceloop.span.kind -> gen_ai.operation.name
_OPENINFERENCE_KINDS = {
    "llm": "chat",
    "embedding": "embeddings",
    "tool": "execute_tool",
    "agent": "invoke_agent",
    "chain": "chain",
    "retriever": "retrieval",
    "reranker": "rerank",
    "guardrail": "guardrail",
    "evaluator": "evaluate",
    "workflow": "workflow",
    "task": "task",
}
# llm.request.type (OpenLLMetry) -> gen_ai.operation.name
_REQUEST_TYPES = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}
# Older gen_ai.system values and OpenInference's llm.provider / llm.system -> current names.
_PROVIDERS = {
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "google": "gcp.gemini",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
}

# Attributes that carry content: prompts, completions, tool arguments and results.
CONTENT_KEYS = frozenset({
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.prompt", "gen_ai.completion", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "gen_ai.tool.definitions", "input.value", "output.value",
    "llm.prompts", "llm.prompt_template.variables", "tool.parameters",
    "tool_call.function.arguments",
    "traceloop.entity.input", "traceloop.entity.output",
})  # fmt: skip
CONTENT_PREFIXES = (
    "gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.",
    "llm.completions.", "retrieval.documents.", "reranker.input_documents.",
    "reranker.output_documents.", "embedding.embeddings.",
)  # fmt: skip
# Names under a content prefix that are not content.
NOT_CONTENT = frozenset({"gen_ai.prompt.name", "gen_ai.prompt.version", "gen_ai.prompt.id"})
# Span events that carry content in their attributes (older conventions).
_INPUT_EVENTS = frozenset({
    "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
    "gen_ai.tool.message", "gen_ai.content.prompt",
})  # fmt: skip
_OUTPUT_EVENTS = frozenset({"gen_ai.choice", "gen_ai.content.completion"})


def is_content(key: str) -> bool:
    """Whether an attribute holds prompt or completion content."""
    known = _CONTENT_MEMO.get(key)
    if known is None:
        known = key not in NOT_CONTENT and (key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES))
        if len(_CONTENT_MEMO) < 4096:  # attribute names come from clients: bounded
            _CONTENT_MEMO[key] = known
    return known


_CONTENT_MEMO: dict[str, bool] = {}


def _has_content(attributes: dict[str, Any]) -> bool:
    """Whether any attribute holds content; the names are looked up in C while all of them
    are known."""
    try:
        return any(map(_CONTENT_MEMO.__getitem__, attributes))
    except KeyError:
        return any(is_content(key) for key in attributes)  # every name, to learn them all


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """What a project keeps of span content: nothing, or everything after `redact`."""

    capture: bool = False
    redact: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent the spans: the key's tenant and project, and how its users and content are
    treated. `price` is the cost in micro-dollars of (model, input tokens, output tokens), or
    None when the model has no known price."""

    tenant_id: str
    project_id: str
    hash_user: Callable[[str], str] | None
    content: ContentPolicy
    price: Callable[[str, int, int], int | None]


_USER_KEYS = ("user.id", "enduser.id", "agentdeck.user.id")


def resource_attributes(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's attributes as its spans keep them (`resource.` and the name); built once
    for all the spans of a resource."""
    return {f"resource.{key}": value for key, value in resource.items()}


def to_span(
    received: ReceivedSpan,
    resource: dict[str, Any],
    origin: Origin,
    kept_resource: dict[str, Any] | None = None,
) -> Span:
    """The stored span of a received one (`kept_resource`: `resource_attributes(resource)`,
    when the caller has it)."""
    attrs = received.attributes
    get = attrs.get
    operation = _text(get("gen_ai.operation.name"))
    if operation is None:
        kind = _text(get("openinference.span.kind") or get("traceloop.span.kind"))
        operation = _OPENINFERENCE_KINDS.get(kind.lower()) if kind else None
        request_type = _text(get("llm.request.type"))
        if request_type is not None:
            operation = _REQUEST_TYPES.get(request_type, operation)
    provider = _text(
        get("gen_ai.provider.name") or get("gen_ai.system") or get("llm.provider")
        or get("llm.system")
    )  # fmt: skip
    if provider is not None:
        provider = _PROVIDERS.get(provider.lower(), provider.lower())
    response_model = _text(get("gen_ai.response.model") or get("llm.response.model"))
    request_model = _text(get("gen_ai.request.model") or get("llm.request.model"))
    if get("llm.model_name") is not None:  # OpenInference: the model the provider reported
        response_model = response_model or _text(get("llm.model_name"))
        request_model = request_model or _invocation_model(get("llm.invocation_parameters"))
        request_model = request_model or response_model
    input_tokens = _count(
        get("gen_ai.usage.input_tokens"), get("gen_ai.usage.prompt_tokens"),
        get("llm.usage.prompt_tokens"), get("llm.token_count.prompt"),
    )  # fmt: skip
    output_tokens = _count(
        get("gen_ai.usage.output_tokens"), get("gen_ai.usage.completion_tokens"),
        get("llm.usage.completion_tokens"), get("llm.token_count.completion"),
    )  # fmt: skip
    cost = _count(get("agentdeck.cost_micros"))
    if cost is None and (input_tokens or output_tokens):
        # The requested name first: through agentdeck's gateway it is the alias, priced as
        # configured; the provider's answer may name an undated or internal model.
        for model in (request_model, response_model):
            if model is not None:
                cost = origin.price(model, input_tokens or 0, output_tokens or 0)
                if cost is not None:
                    break
    user = _text(get(_USER_KEYS[0]) or get(_USER_KEYS[1]) or get(_USER_KEYS[2]))
    tags = get("agentdeck.tags") or get("tag.tags")
    session, prompt_version = get("agentdeck.session.id"), get("llm.prompt_template.version")
    attributes, events, input_text, output_text = _content(received, origin.content)
    if origin.hash_user is not None:
        user = _hash_users(attributes, user, origin.hash_user)
    _add_resource(
        attributes, resource_attributes(resource) if kept_resource is None else kept_resource
    )
    if received.scope is not None:
        attributes.setdefault("otel.scope.name", received.scope)
    # Positional, in the order of Span's fields: matching 34 keywords to parameters cost a
    # twentieth of normalizing a span. The tests of this module read every field by name.
    return Span(
        origin.tenant_id,  # tenant_id
        received.trace_id,  # trace_id
        received.span_id,  # span_id
        received.name.replace("\x00", ""),  # name
        received.start_ns,  # start_ns
        max(received.end_ns, received.start_ns),  # end_ns
        received.parent_span_id,  # parent_span_id
        origin.project_id,  # project_id
        received.kind,  # kind
        received.status,  # status
        _text(received.status_message),  # status_message
        "otlp",  # source
        _text(resource.get("service.name")),  # service
        operation,  # operation
        provider,  # provider
        request_model,  # request_model
        response_model,  # response_model
        input_tokens,  # input_tokens
        output_tokens,  # output_tokens
        cost,  # cost_micros
        _text(get("gen_ai.conversation.id") or get("session.id") or session),  # session_id
        user,  # user_id
        _text(get("agentdeck.prompt.name") or get("gen_ai.prompt.name")),  # prompt_name
        _version(get("agentdeck.prompt.version") or prompt_version),  # prompt_version
        _text(get("agentdeck.deployment")),  # deployment
        _text(get("gen_ai.tool.name") or get("tool.name")),  # tool_name
        _tags(tags),  # tags
        None,  # cache: a gateway fact
        attributes,  # attributes
        events,  # events
        input_text,  # input_text
        output_text,  # output_text
    )


def _hash_users(
    attributes: dict[str, Any], user: str | None, hash_user: Callable[[str], str]
) -> str | None:
    """The user column hashed, and every user-id attribute with it: the raw id must not
    survive in the attributes beside its hash."""
    for key in _USER_KEYS:
        raw = _text(attributes.get(key))
        if raw is not None:
            attributes[key] = hash_user(raw)
    return None if user is None else hash_user(user)


def _add_resource(attributes: dict[str, Any], kept_resource: dict[str, Any]) -> None:
    if kept_resource.keys().isdisjoint(attributes):
        attributes.update(kept_resource)
    else:  # the span's own attribute of the same name is kept
        for key, value in kept_resource.items():
            attributes.setdefault(key, value)


def _text(value: Any) -> str | None:
    """A string attribute as text (NUL characters, which no store column takes, removed);
    other types are not names."""
    if isinstance(value, str):
        return value.replace("\x00", "") or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


# Tokens and micro-dollars a single span may claim: a trillion. Sums over a million such spans
# still fit the stores' 64-bit integers; a larger claim is not a count (left empty).
MAX_COUNT = 10**12


def _count(*values: Any) -> int | None:
    """The first value that is a whole number in [0, MAX_COUNT] (ints, whole floats, digits)."""
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            return value if 0 <= value <= MAX_COUNT else None
        if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_COUNT:
            return int(value)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 13:
            number = int(value)
            return number if number <= MAX_COUNT else None
    return None


def _version(*values: Any) -> int | None:
    """A prompt version: a count that fits the 32-bit column."""
    number = _count(*values)
    return number if number is not None and number < 1 << 31 else None


def _invocation_model(value: Any) -> str | None:
    """The model named in OpenInference's `llm.invocation_parameters` (a JSON object)."""
    if not isinstance(value, str) or '"model"' not in value:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return _text(parsed.get("model")) if isinstance(parsed, dict) else None


def _tags(value: Any) -> str | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    names = [tag for tag in value if isinstance(tag, str) and tag and "," not in tag]
    return f",{','.join(names)}," if names else None


def _content(
    received: ReceivedSpan, policy: ContentPolicy
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None, str | None]:
    """Attributes and events with content kept (redacted) or taken out, and the span's input
    and output text."""
    if not received.events and not _has_content(received.attributes):
        return dict(received.attributes), [], None, None  # nothing to keep or take out
    attributes: dict[str, Any] = {}
    content: dict[str, Any] = {}
    for key, value in received.attributes.items():
        (content if is_content(key) else attributes)[key] = value
    events: list[dict[str, Any]] = []
    inputs: list[Any] = []
    outputs: list[Any] = []
    for event in received.events:
        name = event["name"]
        if name in _INPUT_EVENTS or name in _OUTPUT_EVENTS:
            (inputs if name in _INPUT_EVENTS else outputs).append(
                {"event": name, **event["attributes"]}
            )
            if policy.capture:
                events.append({**event, "attributes": _redacted(event["attributes"], policy)})
            else:
                events.append({**event, "attributes": {}})
        else:
            events.append(event)
    if not policy.capture:
        if content or inputs or outputs:
            attributes["agentdeck.content"] = "not captured"
        return attributes, events, None, None
    attributes.update(_redacted(content, policy))
    input_text = _first_text(
        content, ("gen_ai.input.messages", "gen_ai.prompt", "input.value"),
        ("gen_ai.prompt.", "llm.input_messages."), inputs,
    )  # fmt: skip
    output_text = _first_text(
        content, ("gen_ai.output.messages", "gen_ai.completion", "output.value"),
        ("gen_ai.completion.", "llm.output_messages."), outputs,
    )  # fmt: skip
    if policy.redact is not None:
        input_text = policy.redact(input_text) if input_text else input_text
        output_text = policy.redact(output_text) if output_text else output_text
    return attributes, events, input_text, output_text


def _redacted(values: dict[str, Any], policy: ContentPolicy) -> dict[str, Any]:
    if policy.redact is None:
        return values
    redact = policy.redact
    return {key: _redact_value(value, redact) for key, value in values.items()}


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string in a value, however nested (messages as arrays or key-value lists)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(item, redact) for item in value]
    if isinstance(value, dict):
        return {key: _redact_value(item, redact) for key, item in value.items()}
    return value


def _first_text(
    content: dict[str, Any], keys: tuple[str, ...], prefixes: tuple[str, ...], events: list[Any]
) -> str | None:
    """The span's content on one side: a whole-content attribute, else the indexed message
    attributes gathered in order, else the content events."""
    for key in keys:
        value = content.get(key)
        if isinstance(value, str) and value:
            return value
        if value is not None:
            return orjson.dumps(value, default=str).decode()
    indexed = {k: v for k, v in content.items() if k.startswith(prefixes)}
    if indexed:
        return orjson.dumps(indexed, default=str).decode()
    if events:
        return orjson.dumps(events, default=str).decode()
    return None
