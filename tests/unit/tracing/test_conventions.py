"""Received spans normalized to agentdeck's columns, whichever GenAI conventions they follow
(current OpenTelemetry, older OpenTelemetry, OpenLLMetry, OpenInference); prices, users,
sessions, tools, prompts and tags; content kept (redacted) or taken out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agentdeck.gateway.call_spans import hashed_user
from agentdeck.guardrails.pii import redactor
from agentdeck.tracing.conventions import (
    CONTENT_KEYS,
    CONTENT_PREFIXES,
    MAX_COUNT,
    ContentPolicy,
    Origin,
    is_content,
    to_span,
)
from agentdeck.tracing.otlp import ReceivedSpan
from agentdeck.tracing.spans import Span

TRACE, SPAN, PARENT = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "00f067aa0ba902b7"
START = 1_700_000_000_000_000_000
END = START + 1_500_000_000
# micro-dollars per token (input, output) of the models the fake price table knows
PRICES = {"alias-chat": (3, 15), "gpt-4o-2024-08-06": (2, 8), "gpt-4o": (5, 20)}
CAPTURE = ContentPolicy(capture=True)
REDACT = ContentPolicy(capture=True, redact=redactor())
DROP = ContentPolicy(capture=False)


class PriceBook:
    """A price callable that records what it was asked."""

    def __init__(self, prices: dict[str, tuple[int, int]] | None = None) -> None:
        self.prices = PRICES if prices is None else prices
        self.asked: list[tuple[str, int, int]] = []

    def __call__(self, model: str, input_tokens: int, output_tokens: int) -> int | None:
        self.asked.append((model, input_tokens, output_tokens))
        unit = self.prices.get(model)
        return None if unit is None else input_tokens * unit[0] + output_tokens * unit[1]


def _origin(
    content: ContentPolicy = DROP, price: PriceBook | None = None, hash_users: bool = True
) -> Origin:
    return Origin(
        tenant_id="tenant-a",
        project_id="proj-1",
        hash_user=(lambda user: hashed_user("tenant-a", user)) if hash_users else None,
        content=content,
        price=price if price is not None else PriceBook(),
    )


def _received(
    attributes: dict[str, Any],
    events: list[dict[str, Any]] | None = None,
    scope: str | None = "my.instrumentation",
    **fields: Any,
) -> ReceivedSpan:
    values: dict[str, Any] = {
        "trace_id": TRACE, "span_id": SPAN, "parent_span_id": PARENT, "name": "chat",
        "kind": "client", "start_ns": START, "end_ns": END, "status": "ok",
        "status_message": None,
    }  # fmt: skip
    values.update(fields)
    return ReceivedSpan(attributes=attributes, events=events or [], scope=scope, **values)


def _span(
    attributes: dict[str, Any],
    origin: Origin | None = None,
    resource: dict[str, Any] | None = None,
    **fields: Any,
) -> Span:
    return to_span(_received(attributes, **fields), resource or {}, origin or _origin())


def _genai(span: Span) -> dict[str, Any]:
    """The GenAI columns of a span."""
    return {
        "operation": span.operation, "provider": span.provider,
        "request_model": span.request_model, "response_model": span.response_model,
        "input_tokens": span.input_tokens, "output_tokens": span.output_tokens,
        "cost_micros": span.cost_micros, "session_id": span.session_id, "user_id": span.user_id,
        "prompt_name": span.prompt_name, "prompt_version": span.prompt_version,
        "tool_name": span.tool_name, "tags": span.tags, "deployment": span.deployment,
    }  # fmt: skip


# --- one test per convention family ----------------------------------------------------------


def test_current_opentelemetry_genai_conventions() -> None:
    prices = PriceBook()
    messages = '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'
    answer = '[{"role":"assistant","parts":[{"type":"text","content":"hello"}]}]'
    span = _span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.conversation.id": "conv-1",
            "user.id": "alice",
            "gen_ai.input.messages": messages,
            "gen_ai.output.messages": answer,
            "gen_ai.request.temperature": 0.2,
        },
        _origin(CAPTURE, prices),
        resource={"service.name": "checkout"},
    )
    assert _genai(span) == {
        "operation": "chat", "provider": "openai", "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06", "input_tokens": 100, "output_tokens": 20,
        "cost_micros": 100 * 5 + 20 * 20, "session_id": "conv-1",
        "user_id": hashed_user("tenant-a", "alice"), "prompt_name": None,
        "prompt_version": None, "tool_name": None, "tags": None, "deployment": None,
    }  # fmt: skip
    assert prices.asked == [("gpt-4o", 100, 20)]  # the requested model first, and it is known
    assert (span.input_text, span.output_text) == (messages, answer)
    assert span.service == "checkout"
    assert (span.tenant_id, span.project_id, span.source) == ("tenant-a", "proj-1", "otlp")
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, SPAN, PARENT)
    assert (span.name, span.kind, span.status, span.status_message) == (
        "chat",
        "client",
        "ok",
        None,
    )
    assert (span.start_ns, span.end_ns) == (START, END)
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.conversation.id": "conv-1",
        "user.id": hashed_user("tenant-a", "alice"),  # never the raw id beside its hash
        "gen_ai.request.temperature": 0.2,
        "gen_ai.input.messages": messages,
        "gen_ai.output.messages": answer,
        "resource.service.name": "checkout",
        "otel.scope.name": "my.instrumentation",
    }


def test_older_opentelemetry_conventions_with_message_events() -> None:
    prices = PriceBook()
    events = [
        {"name": "gen_ai.system.message", "time_ns": START + 1,
         "attributes": {"content": "be brief"}},
        {"name": "gen_ai.user.message", "time_ns": START + 2, "attributes": {"content": "hi"}},
        {"name": "first_token", "time_ns": START + 3, "attributes": {"x": 1}},
        {"name": "gen_ai.choice", "time_ns": START + 4,
         "attributes": {"index": 0, "finish_reason": "stop", "content": "hello"}},
    ]  # fmt: skip
    span = to_span(
        _received(
            {
                "gen_ai.system": "az.ai.openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "alias-chat",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.prompt_tokens": 1000,
                "gen_ai.usage.completion_tokens": 500,
                "enduser.id": "bob",
                "session.id": "s-9",
            },
            events,
        ),
        {},
        _origin(CAPTURE, prices, hash_users=False),
    )
    assert _genai(span) == {
        "operation": "chat", "provider": "azure.ai.openai", "request_model": "alias-chat",
        "response_model": "gpt-4o-2024-08-06", "input_tokens": 1000, "output_tokens": 500,
        "cost_micros": 1000 * 3 + 500 * 15, "session_id": "s-9", "user_id": "bob",
        "prompt_name": None, "prompt_version": None, "tool_name": None, "tags": None,
        "deployment": None,
    }  # fmt: skip
    assert prices.asked == [("alias-chat", 1000, 500)]
    assert orjson.loads(span.input_text or "") == [
        {"event": "gen_ai.system.message", "content": "be brief"},
        {"event": "gen_ai.user.message", "content": "hi"},
    ]
    assert orjson.loads(span.output_text or "") == [
        {"event": "gen_ai.choice", "index": 0, "finish_reason": "stop", "content": "hello"}
    ]
    assert span.events == events  # captured and not redacted: kept as sent


def test_openllmetry_conventions() -> None:
    prices = PriceBook()
    span = _span(
        {
            "llm.request.type": "chat",
            "traceloop.span.kind": "task",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-unknown",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "llm.usage.prompt_tokens": 40,
            "llm.usage.completion_tokens": 10,
            "llm.usage.total_tokens": 50,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "traceloop.entity.name": "answer",
            "traceloop.association.properties.session_id": "not read",
        },
        _origin(CAPTURE, prices),
    )
    assert _genai(span) == {
        "operation": "chat", "provider": "anthropic", "request_model": "claude-unknown",
        "response_model": "gpt-4o-2024-08-06", "input_tokens": 40, "output_tokens": 10,
        "cost_micros": 40 * 2 + 10 * 8, "session_id": None, "user_id": None,
        "prompt_name": None, "prompt_version": None, "tool_name": None, "tags": None,
        "deployment": None,
    }  # fmt: skip
    # The requested model has no price: the response's model is priced instead.
    assert prices.asked == [("claude-unknown", 40, 10), ("gpt-4o-2024-08-06", 40, 10)]
    assert orjson.loads(span.input_text or "") == {
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "be brief",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "hi",
    }
    assert span.input_text == (
        '{"gen_ai.prompt.0.role":"system","gen_ai.prompt.0.content":"be brief",'
        '"gen_ai.prompt.1.role":"user","gen_ai.prompt.1.content":"hi"}'
    )  # in the order sent
    assert span.output_text == (
        '{"gen_ai.completion.0.role":"assistant","gen_ai.completion.0.content":"hello"}'
    )


@pytest.mark.parametrize(
    ("request_type", "operation"),
    [("chat", "chat"), ("completion", "text_completion"), ("embedding", "embeddings"),
     ("rerank", "workflow")],
)  # fmt: skip
def test_openllmetry_request_types_over_span_kinds(request_type: str, operation: str) -> None:
    span = _span({"llm.request.type": request_type, "traceloop.span.kind": "workflow"})
    assert span.operation == operation


def test_openinference_conventions() -> None:
    prices = PriceBook()
    span = _span(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": '{"model": "alias-chat", "temperature": 0}',
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 3,
            "llm.token_count.total": 15,
            "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
            "input.mime_type": "application/json",
            "output.value": "hello",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "llm.output_messages.0.message.content": "hello",
            "session.id": "sess-oi",
            "user.id": "carol",
            "tag.tags": ["beta", "eval"],
            "llm.prompt_template.version": "4",
            "llm.prompt_template.variables": '{"city": "Paris"}',
        },
        _origin(CAPTURE, prices),
    )
    assert _genai(span) == {
        "operation": "chat", "provider": "openai", "request_model": "alias-chat",
        "response_model": "gpt-4o-2024-08-06", "input_tokens": 12, "output_tokens": 3,
        "cost_micros": 12 * 3 + 3 * 15, "session_id": "sess-oi",
        "user_id": hashed_user("tenant-a", "carol"), "prompt_name": None,
        "prompt_version": 4, "tool_name": None, "tags": ",beta,eval,", "deployment": None,
    }  # fmt: skip
    assert prices.asked == [("alias-chat", 12, 3)]
    assert span.input_text == '{"messages": [{"role": "user", "content": "hi"}]}'
    assert span.output_text == "hello"  # output.value before the indexed messages
    assert span.attributes["input.mime_type"] == "application/json"


def test_openinference_without_invocation_parameters_requests_the_reported_model() -> None:
    for parameters in (None, '{"temperature": 0}', '{"model": ', '["model"]', 7):
        attributes: dict[str, Any] = {
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 1, "llm.token_count.completion": 1,
        }  # fmt: skip
        if parameters is not None:
            attributes["llm.invocation_parameters"] = parameters
        span = _span(attributes)
        assert (span.request_model, span.response_model) == ("gpt-4o", "gpt-4o"), parameters
        assert span.cost_micros == 25


@pytest.mark.parametrize(
    ("kind", "operation"),
    [("LLM", "chat"), ("EMBEDDING", "embeddings"), ("TOOL", "execute_tool"),
     ("AGENT", "invoke_agent"), ("CHAIN", "chain"), ("RETRIEVER", "retrieval"),
     ("RERANKER", "rerank"), ("GUARDRAIL", "guardrail"), ("EVALUATOR", "evaluate"),
     ("workflow", "workflow"), ("task", "task"), ("UNKNOWN", None)],
)  # fmt: skip
def test_openinference_span_kinds(kind: str, operation: str | None) -> None:
    assert _span({"openinference.span.kind": kind}).operation == operation
    assert _span({"traceloop.span.kind": kind}).operation == operation


def test_an_explicit_operation_name_wins() -> None:
    span = _span({"gen_ai.operation.name": "embeddings", "openinference.span.kind": "LLM",
                  "llm.request.type": "chat"})  # fmt: skip
    assert span.operation == "embeddings"
    assert _span({}).operation is None


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("az.ai.openai", "azure.ai.openai"), ("azure", "azure.ai.openai"),
     ("azure_openai", "azure.ai.openai"), ("vertex_ai", "gcp.vertex_ai"),
     ("google", "gcp.gemini"), ("gemini", "gcp.gemini"), ("bedrock", "aws.bedrock"),
     ("aws", "aws.bedrock"), ("mistralai", "mistral_ai"), ("MistralAI", "mistral_ai"),
     ("mistral", "mistral_ai"), ("OpenAI", "openai"), ("anthropic", "anthropic"),
     ("gcp.vertex_ai", "gcp.vertex_ai"), ("x-custom", "x-custom")],
)  # fmt: skip
def test_provider_names_are_mapped_to_current_ones(sent: str, stored: str) -> None:
    for key in ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"):
        assert _span({key: sent}).provider == stored


def test_provider_precedence() -> None:
    both = {"gen_ai.provider.name": "openai", "gen_ai.system": "anthropic",
            "llm.provider": "bedrock", "llm.system": "gemini"}  # fmt: skip
    assert _span(both).provider == "openai"
    del both["gen_ai.provider.name"]
    assert _span(both).provider == "anthropic"
    del both["gen_ai.system"]
    assert _span(both).provider == "aws.bedrock"
    assert _span({"gen_ai.provider.name": True}).provider is None


# --- cost ------------------------------------------------------------------------------------


def test_an_explicit_cost_wins_over_the_price() -> None:
    prices = PriceBook()
    span = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
                  "agentdeck.cost_micros": 777}, _origin(price=prices))  # fmt: skip
    assert span.cost_micros == 777
    assert prices.asked == []
    zero = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
                  "agentdeck.cost_micros": 0}, _origin(price=prices))  # fmt: skip
    assert zero.cost_micros == 0
    assert prices.asked == []


def test_a_cost_is_priced_only_with_tokens_and_a_known_model() -> None:
    prices = PriceBook()
    assert _span({"gen_ai.request.model": "gpt-4o"}, _origin(price=prices)).cost_micros is None
    no_tokens = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 0,
                 "gen_ai.usage.output_tokens": 0}  # fmt: skip
    assert _span(no_tokens, _origin(price=prices)).cost_micros is None
    assert prices.asked == []
    only_output = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": 3},
                        _origin(price=prices))  # fmt: skip
    assert only_output.cost_micros == 60
    assert prices.asked == [("gpt-4o", 0, 3)]
    unknown = _span({"gen_ai.request.model": "a", "gen_ai.response.model": "b",
                     "gen_ai.usage.input_tokens": 5}, _origin(price=prices))  # fmt: skip
    assert unknown.cost_micros is None
    assert prices.asked[1:] == [("a", 5, 0), ("b", 5, 0)]
    no_model = _span({"gen_ai.usage.input_tokens": 5}, _origin(price=prices))
    assert no_model.cost_micros is None
    assert len(prices.asked) == 3


@pytest.mark.parametrize(
    ("value", "tokens"),
    [(7, 7), ("7", 7), (7.0, 7), (0, 0), ("0", 0), (7.5, None), (-1, None), ("-1", None),
     (True, None), ("7a", None), ("", None), (" 7", None), ([7], None),
     (MAX_COUNT, MAX_COUNT), (MAX_COUNT + 1, None), (float(MAX_COUNT), MAX_COUNT),
     (float(MAX_COUNT + 1), None), (str(MAX_COUNT), MAX_COUNT), (str(MAX_COUNT + 1), None),
     ("9" * 19, None), (2**63, None), (1e300, None)],
)  # fmt: skip
def test_token_counts_are_whole_numbers_up_to_the_cap(value: Any, tokens: int | None) -> None:
    assert MAX_COUNT == 10**12
    assert _span({"gen_ai.usage.input_tokens": value}).input_tokens == tokens


def test_costs_and_prompt_versions_are_counts_too() -> None:
    over = {"agentdeck.cost_micros": MAX_COUNT + 1, "agentdeck.prompt.version": MAX_COUNT + 1}
    span = _span(over)
    assert (span.cost_micros, span.prompt_version) == (None, None)
    assert _span({"agentdeck.cost_micros": str(MAX_COUNT)}).cost_micros == MAX_COUNT


def test_token_attributes_in_order_of_precedence() -> None:
    keys = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
            "llm.usage.prompt_tokens", "llm.token_count.prompt"]  # fmt: skip
    for n, key in enumerate(keys):
        span = _span({k: 10 * (i + 1) for i, k in enumerate(keys) if i >= n})
        assert span.input_tokens == 10 * (n + 1), key
    # A value that is not a count gives way to the next attribute.
    assert _span({keys[0]: 1.5, keys[1]: 9}).input_tokens == 9
    assert _span({"gen_ai.usage.output_tokens": None,
                  "gen_ai.usage.completion_tokens": 4}).output_tokens == 4  # fmt: skip


def test_a_token_count_of_non_ascii_digits_is_not_a_count() -> None:
    assert _span({"gen_ai.usage.input_tokens": "²", "llm.usage.prompt_tokens": 4}).input_tokens == 4


# --- session, user, tool, prompt, tags -------------------------------------------------------


def test_session_precedence() -> None:
    keys = ["gen_ai.conversation.id", "session.id", "agentdeck.session.id"]
    for n, key in enumerate(keys):
        assert _span({k: k for k in keys[n:]}).session_id == key
    assert _span({"session.id": 42}).session_id == "42"
    assert _span({"session.id": ""}).session_id is None


def test_users_are_hashed_unless_the_project_keeps_them_raw() -> None:
    for key in ("user.id", "enduser.id", "agentdeck.user.id"):
        hashed = _span({key: "alice@example.com"})
        assert hashed.user_id == hashed_user("tenant-a", "alice@example.com")
        assert hashed.user_id is not None
        assert hashed.user_id.startswith("h:")
        assert len(hashed.user_id) == 34
        assert hashed.attributes[key] == hashed.user_id  # the raw id is stored nowhere
        assert "alice" not in str(hashed.attributes)
        raw = _span({key: "alice@example.com"}, _origin(hash_users=False))
        assert raw.user_id == "alice@example.com"
        assert raw.attributes[key] == "alice@example.com"
    both = _span({"user.id": "first", "enduser.id": "second", "agentdeck.user.id": "third"},
                 _origin(hash_users=False))  # fmt: skip
    assert both.user_id == "first"
    assert _span({"user.id": ""}).user_id is None
    assert _span({"user.id": ["a"]}).user_id is None


def test_tools_prompts_and_deployment() -> None:
    span = _span({"gen_ai.tool.name": "search", "tool.name": "other",
                  "agentdeck.prompt.name": "greeter", "gen_ai.prompt.name": "other",
                  "agentdeck.prompt.version": 3, "llm.prompt_template.version": "9",
                  "agentdeck.deployment": "chat/eu"})  # fmt: skip
    assert (span.tool_name, span.prompt_name, span.prompt_version, span.deployment) == (
        "search", "greeter", 3, "chat/eu"
    )  # fmt: skip
    fallback = _span({"tool.name": "lookup", "gen_ai.prompt.name": "welcome",
                      "llm.prompt_template.version": "9"})  # fmt: skip
    assert (fallback.tool_name, fallback.prompt_name, fallback.prompt_version) == (
        "lookup", "welcome", 9
    )  # fmt: skip
    assert _span({"agentdeck.prompt.version": "v2"}).prompt_version is None


@pytest.mark.parametrize(
    ("value", "tags"),
    [(["a", "b"], ",a,b,"), ("solo", ",solo,"), (["a", "", 3, "x,y", "b"], ",a,b,"),
     (["", "a,b"], None), ([], None), (5, None), ({"a": 1}, None)],
)  # fmt: skip
def test_tags(value: Any, tags: str | None) -> None:
    assert _span({"agentdeck.tags": value}).tags == tags
    assert _span({"tag.tags": value}).tags == tags


def test_agentdeck_tags_win_over_openinference_tags() -> None:
    assert _span({"agentdeck.tags": ["mine"], "tag.tags": ["theirs"]}).tags == ",mine,"


def test_numbers_are_names_but_booleans_are_not() -> None:
    span = _span({"gen_ai.request.model": 4, "gen_ai.response.model": 1.5,
                  "gen_ai.operation.name": False})  # fmt: skip
    assert (span.request_model, span.response_model, span.operation) == ("4", "1.5", None)


# --- resource, scope, times ------------------------------------------------------------------


def test_resource_attributes_and_scope() -> None:
    span = _span(
        {"resource.host.name": "sent-on-the-span", "k": "v"},
        resource={"service.name": "svc", "host.name": "h1", "process.pid": 7},
    )
    assert span.service == "svc"
    assert span.attributes == {
        "k": "v",
        "resource.host.name": "sent-on-the-span",  # the span's own attribute is kept
        "resource.service.name": "svc",
        "resource.process.pid": 7,
        "otel.scope.name": "my.instrumentation",
    }
    bare = to_span(_received({}, scope=None), {}, _origin())
    assert bare.attributes == {}
    assert bare.service is None
    assert to_span(_received({}), {"service.name": ["x"]}, _origin()).service is None


def test_an_end_before_the_start_is_clamped() -> None:
    span = _span({}, start_ns=START, end_ns=START - 5)
    assert (span.start_ns, span.end_ns) == (START, START)
    assert span.values()[-3] == 0  # duration_us


# --- content ---------------------------------------------------------------------------------

CONTENT_SAMPLE = {
    **{key: f"content of {key}" for key in sorted(CONTENT_KEYS)},
    **{f"{prefix}0.content": f"content of {prefix}" for prefix in CONTENT_PREFIXES},
}
CONTENT_EVENTS = [
    {"name": name, "time_ns": START + n, "attributes": {"content": f"{name} says hi", "i": n}}
    for n, name in enumerate(
        ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
         "gen_ai.tool.message", "gen_ai.content.prompt", "gen_ai.choice",
         "gen_ai.content.completion"]
    )
]  # fmt: skip
OTHER_EVENT = {"name": "exception", "time_ns": START, "attributes": {"exception.message": "boom"}}


def test_every_content_attribute_is_known_as_content() -> None:
    assert all(is_content(key) for key in CONTENT_SAMPLE)
    for key in ("gen_ai.request.model", "gen_ai.usage.input_tokens", "llm.model_name",
                "input.mime_type", "gen_ai.prompt", "gen_ai.promptx", "tool.name"):  # fmt: skip
        assert is_content(key) is (key == "gen_ai.prompt"), key


def test_content_not_captured_is_taken_out_and_marked() -> None:
    kept = {"gen_ai.request.model": "gpt-4o", "input.mime_type": "text/plain", "n": 3}
    span = to_span(
        _received({**CONTENT_SAMPLE, **kept}, [*CONTENT_EVENTS, OTHER_EVENT]),
        {"service.name": "svc"},
        _origin(DROP),
    )
    assert span.attributes == {
        **kept,
        "agentdeck.content": "not captured",
        "resource.service.name": "svc",
        "otel.scope.name": "my.instrumentation",
    }
    assert span.events == [
        *({**event, "attributes": {}} for event in CONTENT_EVENTS),
        OTHER_EVENT,
    ]
    assert (span.input_text, span.output_text) == (None, None)
    assert "says hi" not in orjson.dumps([span.attributes, span.events]).decode()


@pytest.mark.parametrize("key", sorted(CONTENT_SAMPLE))
def test_each_content_attribute_alone_is_taken_out(key: str) -> None:
    span = _span({key: "secret words", "gen_ai.request.model": "m"}, _origin(DROP), scope=None)
    assert span.attributes == {"gen_ai.request.model": "m", "agentdeck.content": "not captured"}


def test_a_content_event_alone_is_emptied_and_marked() -> None:
    for event in CONTENT_EVENTS:
        span = to_span(_received({}, [event], scope=None), {}, _origin(DROP))
        assert span.events == [{**event, "attributes": {}}]
        assert span.attributes == {"agentdeck.content": "not captured"}


def test_a_span_without_content_is_not_marked() -> None:
    span = to_span(_received({"k": 1}, [OTHER_EVENT], scope=None), {}, _origin(DROP))
    assert span.attributes == {"k": 1}
    assert span.events == [OTHER_EVENT]


def test_a_prompt_name_is_not_content() -> None:
    dropped = _span({"gen_ai.prompt.name": "greeter"}, _origin(DROP), scope=None)
    assert dropped.attributes == {"gen_ai.prompt.name": "greeter"}
    captured = _span({"gen_ai.prompt.name": "greeter"}, _origin(CAPTURE), scope=None)
    assert captured.input_text is None


@pytest.mark.parametrize(
    ("attributes", "input_text"),
    [
        ({"gen_ai.input.messages": "[1]", "gen_ai.prompt": "p", "input.value": "v",
          "gen_ai.prompt.0.content": "i"}, "[1]"),
        ({"gen_ai.input.messages": [{"role": "user", "content": "hi"}]},
         '[{"role":"user","content":"hi"}]'),
        ({"gen_ai.prompt": '[{"role": "user", "content": "hi"}]', "input.value": "v"},
         '[{"role": "user", "content": "hi"}]'),
        ({"input.value": "plain question", "llm.input_messages.0.message.content": "x"},
         "plain question"),
        ({"llm.input_messages.0.message.role": "user",
          "llm.input_messages.0.message.content": "hi"},
         '{"llm.input_messages.0.message.role":"user",'
         '"llm.input_messages.0.message.content":"hi"}'),
        ({"gen_ai.prompt.0.content": "hi", "llm.input_messages.0.message.content": "x"},
         '{"gen_ai.prompt.0.content":"hi","llm.input_messages.0.message.content":"x"}'),
        ({}, None),
    ],
)  # fmt: skip
def test_input_text_sources_in_order(attributes: dict[str, Any], input_text: str | None) -> None:
    assert _span(attributes, _origin(CAPTURE)).input_text == input_text


@pytest.mark.parametrize(
    ("attributes", "output_text"),
    [
        ({"gen_ai.output.messages": "[2]", "gen_ai.completion": "c", "output.value": "v"}, "[2]"),
        ({"gen_ai.output.messages": {"role": "assistant"}}, '{"role":"assistant"}'),
        ({"gen_ai.completion": "c", "output.value": "v"}, "c"),
        ({"output.value": "v", "gen_ai.completion.0.content": "x"}, "v"),
        ({"gen_ai.completion.0.content": "x"}, '{"gen_ai.completion.0.content":"x"}'),
        ({"llm.output_messages.0.message.content": "y"},
         '{"llm.output_messages.0.message.content":"y"}'),
    ],
)  # fmt: skip
def test_output_text_sources_in_order(attributes: dict[str, Any], output_text: str | None) -> None:
    assert _span(attributes, _origin(CAPTURE)).output_text == output_text


def test_attributes_win_over_message_events() -> None:
    span = to_span(_received({"input.value": "from attribute"}, CONTENT_EVENTS), {},
                   _origin(CAPTURE))  # fmt: skip
    assert span.input_text == "from attribute"
    assert orjson.loads(span.output_text or "") == [
        {"event": "gen_ai.choice", "content": "gen_ai.choice says hi", "i": 5},
        {"event": "gen_ai.content.completion", "content": "gen_ai.content.completion says hi",
         "i": 6},
    ]  # fmt: skip


def test_captured_content_is_redacted_in_attributes_events_and_texts() -> None:
    events = [
        {"name": "gen_ai.user.message", "time_ns": START,
         "attributes": {"content": "I am bob@example.com", "n": 1}},
        {"name": "gen_ai.choice", "time_ns": START + 1,
         "attributes": {"content": "Call +44 20 7946 0958"}},
        {"name": "note", "time_ns": START + 2, "attributes": {"text": "eve@example.com"}},
    ]  # fmt: skip
    span = to_span(
        _received(
            {
                "gen_ai.input.messages": "mail bob@example.com or ann@example.com",
                "gen_ai.output.messages": "card 4111 1111 1111 1111",
                "gen_ai.prompt.0.content": "my IP is 10.1.2.3",
                "gen_ai.tool.call.arguments": '{"ssn": "123-45-6789"}',
                "gen_ai.completion.0.index": 0,
                "contact.email": "dan@example.com",  # not content: kept as sent
            },
            events,
        ),
        {},
        _origin(REDACT),
    )
    assert span.attributes == {
        "contact.email": "dan@example.com",
        "gen_ai.input.messages": "mail [EMAIL_1] or [EMAIL_2]",
        "gen_ai.output.messages": "card [CARD_1]",
        "gen_ai.prompt.0.content": "my IP is [IP_1]",
        "gen_ai.tool.call.arguments": '{"ssn": "[SSN_1]"}',
        "gen_ai.completion.0.index": 0,
        "otel.scope.name": "my.instrumentation",
    }
    assert span.events == [
        {**events[0], "attributes": {"content": "I am [EMAIL_1]", "n": 1}},
        {**events[1], "attributes": {"content": "Call [PHONE_1]"}},
        events[2],  # not a content event
    ]
    assert span.input_text == "mail [EMAIL_1] or [EMAIL_2]"
    assert span.output_text == "card [CARD_1]"


def test_texts_built_from_events_are_redacted() -> None:
    events = [{"name": "gen_ai.user.message", "time_ns": START,
               "attributes": {"content": "a@example.com and b@example.com"}}]  # fmt: skip
    span = to_span(_received({}, events), {}, _origin(REDACT))
    assert (
        span.input_text == '[{"event":"gen_ai.user.message","content":"[EMAIL_1] and [EMAIL_2]"}]'
    )
    assert span.output_text is None


def test_captured_content_without_redaction_is_kept_as_sent() -> None:
    span = _span({"gen_ai.input.messages": "mail bob@example.com"}, _origin(CAPTURE), scope=None)
    assert span.attributes == {"gen_ai.input.messages": "mail bob@example.com"}
    assert span.input_text == "mail bob@example.com"


def test_structured_content_is_redacted_too() -> None:
    messages = [{"role": "user", "content": "mail bob@example.com"}]
    events = [{"name": "gen_ai.choice", "time_ns": START,
               "attributes": {"message": {"content": "eve@example.com"}}}]  # fmt: skip
    span = to_span(
        _received({"gen_ai.input.messages": messages, "llm.prompts": ["bob@example.com"]}, events),
        {},
        _origin(REDACT),
    )
    assert span.input_text == '[{"role":"user","content":"mail [EMAIL_1]"}]'
    stored = orjson.dumps([span.attributes, span.events]).decode()
    assert "@example.com" not in stored
