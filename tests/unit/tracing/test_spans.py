"""W3C trace context, span ids, `Span.row()` and the span of a gateway call (`call_span`)."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import orjson
import pytest

from agentdeck.gateway.call_spans import call_span, hashed_user
from agentdeck.gateway.models import CallRecord, Usage
from agentdeck.identity.grants import Grant
from agentdeck.tracing.spans import (
    COLUMN_LENGTHS,
    Span,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    traceparent,
)
from agentdeck.tracing.tables import spans
from tests.unit.tracing.conftest import make_span

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
VALID = f"00-{TRACE}-{PARENT}-01"
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")


# --- traceparent ---------------------------------------------------------------------------


def test_parse_traceparent_reads_trace_and_parent_span() -> None:
    assert parse_traceparent(VALID) == (TRACE, PARENT)


def test_parse_traceparent_accepts_any_trace_flags() -> None:
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-00") == (TRACE, PARENT)
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-ff") == (TRACE, PARENT)


def test_parse_traceparent_accepts_uppercase_and_lowers_it() -> None:
    assert parse_traceparent(VALID.upper()) == (TRACE, PARENT)
    mixed = f"00-{TRACE[:16].upper()}{TRACE[16:]}-{PARENT.upper()}-0A"
    assert parse_traceparent(mixed) == (TRACE, PARENT)


def test_parse_traceparent_ignores_surrounding_whitespace() -> None:
    assert parse_traceparent(f"  {VALID}\t") == (TRACE, PARENT)
    assert parse_traceparent(f"\n{VALID} ") == (TRACE, PARENT)


@pytest.mark.parametrize(
    "value",
    [
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero span id
        f"00-{'0' * 32}-{'0' * 16}-01",
    ],
)
def test_parse_traceparent_rejects_all_zero_ids(value: str) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "garbage",
        "00",
        f"01-{TRACE}-{PARENT}-01",  # another version
        f"ff-{TRACE}-{PARENT}-01",
        f"0-{TRACE}-{PARENT}-01",  # version of one digit
        f"000-{TRACE}-{PARENT}-01",
        f"00-{TRACE[:-1]}-{PARENT}-01",  # trace id of 31 digits
        f"00-{TRACE}0-{PARENT}-01",  # trace id of 33 digits
        f"00-{TRACE}-{PARENT[:-1]}-01",  # span id of 15 digits
        f"00-{TRACE}-{PARENT}0-01",  # span id of 17 digits
        f"00-{TRACE}-{PARENT}-1",  # flags of one digit
        f"00-{TRACE}-{PARENT}-001",
        f"00-{TRACE}-{PARENT}",  # no flags
        f"00-{TRACE}-{PARENT}-01-extra",
        f"00-{TRACE[:-1]}g-{PARENT}-01",  # not hex
        f"00-{TRACE}-{PARENT[:-1]}z-01",
        f"00_{TRACE}_{PARENT}_01",  # wrong separators
        f"00-{TRACE} -{PARENT}-01",
        f"x00-{TRACE}-{PARENT}-01",
    ],
)
def test_parse_traceparent_rejects_malformed_values(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_traceparent_names_a_sampled_span_and_round_trips() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    header = traceparent(trace_id, span_id)
    assert header == f"00-{trace_id}-{span_id}-01"
    assert parse_traceparent(header) == (trace_id, span_id)
    assert traceparent(TRACE, PARENT) == VALID


def test_new_ids_are_lowercase_hex_of_the_right_length_and_differ() -> None:
    traces = {new_trace_id() for _ in range(200)}
    span_ids = {new_span_id() for _ in range(200)}
    assert len(traces) == 200
    assert len(span_ids) == 200
    assert all(HEX32.fullmatch(value) for value in traces)
    assert all(HEX16.fullmatch(value) for value in span_ids)


# --- Span.row() ----------------------------------------------------------------------------


def test_span_row_has_every_column_of_the_table() -> None:
    row = Span("t", TRACE, PARENT, "op", 1_000, 2_000).row()
    assert set(row) == {column.name for column in spans.columns}


def test_span_row_computes_duration_and_writes_json_text() -> None:
    span = Span(
        tenant_id="t1",
        trace_id=TRACE,
        span_id=PARENT,
        name="chat gpt-4o",
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_123_456_789,
        kind="client",
        status="ok",
        cost_micros=42,
        attributes={"gen_ai.request.model": "gpt-4o", "agentdeck.tags": ["a", "b"], "n": 3},
        events=[{"name": "retry", "time_unix_nano": 5}],
    )
    row = span.row()
    assert row["duration_us"] == 123_456  # 123,456,789 ns, truncated to microseconds
    assert isinstance(row["attributes"], str)
    assert isinstance(row["events"], str)
    assert orjson.loads(row["attributes"]) == {
        "gen_ai.request.model": "gpt-4o",
        "agentdeck.tags": ["a", "b"],
        "n": 3,
    }
    assert orjson.loads(row["events"]) == [{"name": "retry", "time_unix_nano": 5}]
    assert row["tenant_id"] == "t1"
    assert row["trace_id"] == TRACE
    assert row["span_id"] == PARENT
    assert row["parent_span_id"] is None
    assert row["kind"] == "client"
    assert row["status"] == "ok"
    assert row["cost_micros"] == 42
    assert row["source"] == "gateway"
    assert row["project_id"] == ""


def test_span_row_defaults_to_empty_json_containers() -> None:
    row = Span("t", TRACE, PARENT, "op", 5, 5).row()
    assert row["attributes"] == "{}"
    assert row["events"] == "[]"
    assert row["duration_us"] == 0


def test_span_row_clamps_a_negative_duration_to_zero() -> None:
    row = Span("t", TRACE, PARENT, "op", start_ns=2_000_000, end_ns=1_000_000).row()
    assert row["duration_us"] == 0
    assert row["start_ns"] == 2_000_000
    assert row["end_ns"] == 1_000_000


def test_span_row_writes_values_json_cannot_hold_as_text() -> None:
    attributes = {"price": Decimal("1.50"), "raw": b"x"}
    row = Span("t", TRACE, PARENT, "op", 0, 1, attributes=attributes).row()
    assert orjson.loads(row["attributes"]) == {"price": "1.50", "raw": "b'x'"}


# --- call_span -----------------------------------------------------------------------------


def _grant(tenant_id: str = "ten-1") -> Grant:
    return Grant(
        key_id="key-1",
        tenant_id=tenant_id,
        tenant_slug="acme",
        project_id="proj-1",
        principal_id="user-1",
        principal_name="alice",
        principal_kind="user",
    )


def _record(**fields: object) -> CallRecord:
    values: dict[str, object] = {
        "request_id": "req-1",
        "alias": "smart",
        "deployment_id": "azure-east",
        "usage": Usage(input_tokens=120, output_tokens=30),
        "cost_micros": 1_500,
        "attempts": 1,
        "path": ["smart"],
        "requested_model": "smart",
        "operation": "chat",
        "started_ns": time.time_ns() - 250 * 1_000_000,
        "trace_id": TRACE,
        "span_id": "1111222233334444",
        "parent_span_id": PARENT,
        "provider": "azure",
        "response_model": "gpt-4o-2024-08-06",
        "outcome": "ok",
    }
    values.update(fields)
    return CallRecord(**values)  # type: ignore[arg-type]


def test_call_span_of_a_successful_chat_call() -> None:
    record = _record(session_id="sess-9", tags=("beta", "eval"), cache="miss")
    before = time.time_ns()
    span = call_span(record, _grant())
    after = time.time_ns()

    assert span.name == "chat smart"
    assert span.kind == "client"
    assert span.status == "ok"
    assert span.status_message is None
    assert span.source == "gateway"
    assert span.service == "agentdeck"
    assert (span.tenant_id, span.project_id) == ("ten-1", "proj-1")
    assert (span.trace_id, span.span_id, span.parent_span_id) == (
        TRACE,
        "1111222233334444",
        PARENT,
    )
    assert span.start_ns == record.started_ns
    assert before <= span.end_ns <= after
    assert span.operation == "chat"
    assert span.provider == "azure.ai.openai"
    assert (span.request_model, span.response_model) == ("smart", "gpt-4o-2024-08-06")
    assert (span.input_tokens, span.output_tokens, span.cost_micros) == (120, 30, 1_500)
    assert span.session_id == "sess-9"
    assert span.user_id is None
    assert span.deployment == "azure-east"

    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["gen_ai.request.model"] == "smart"
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 30
    assert attributes["agentdeck.usage.counted"] is False
    assert attributes["agentdeck.tenant.id"] == "ten-1"
    assert attributes["agentdeck.project.id"] == "proj-1"
    assert attributes["agentdeck.principal.id"] == "user-1"
    assert attributes["agentdeck.key.id"] == "key-1"
    assert attributes["agentdeck.request_id"] == "req-1"
    assert attributes["agentdeck.alias"] == "smart"
    assert attributes["agentdeck.attempts"] == 1
    assert attributes["agentdeck.cost_micros"] == 1_500
    assert attributes["agentdeck.stream"] is False
    assert attributes["agentdeck.outcome"] == "ok"
    assert attributes["agentdeck.deployment"] == "azure-east"
    assert attributes["agentdeck.cache"] == "miss"
    assert attributes["agentdeck.session.id"] == "sess-9"
    assert attributes["agentdeck.tags"] == ["beta", "eval"]
    for absent in ("error.type", "agentdeck.fallback.path", "agentdeck.user.id", "agentdeck.route"):
        assert absent not in attributes


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("openai", "openai"),
        ("azure", "azure.ai.openai"),
        ("anthropic", "anthropic"),
        ("gemini", "gcp.gemini"),
        ("bedrock", "aws.bedrock"),
    ],
)
def test_call_span_maps_the_deployment_provider_to_the_genai_name(provider: str, name: str) -> None:
    span = call_span(_record(provider=provider), _grant())
    assert span.provider == name
    assert span.attributes["gen_ai.provider.name"] == name


def test_call_span_keeps_an_unknown_provider_and_omits_a_missing_one() -> None:
    assert call_span(_record(provider="ollama"), _grant()).provider == "ollama"
    span = call_span(_record(provider=None, response_model=None, deployment_id=""), _grant())
    assert span.provider is None
    assert span.response_model is None
    assert span.deployment is None
    assert "gen_ai.provider.name" not in span.attributes
    assert "gen_ai.response.model" not in span.attributes
    assert "agentdeck.deployment" not in span.attributes


def test_call_span_of_an_embeddings_call() -> None:
    span = call_span(_record(operation="embeddings", requested_model="embed-small"), _grant())
    assert span.name == "embeddings embed-small"
    assert span.operation == "embeddings"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"


def test_call_span_without_usage_has_no_usage_attributes() -> None:
    span = call_span(_record(usage=Usage()), _grant())
    assert (span.input_tokens, span.output_tokens) == (0, 0)
    for absent in (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "agentdeck.usage.counted",
    ):
        assert absent not in span.attributes


def test_call_span_marks_counted_usage() -> None:
    span = call_span(_record(usage=Usage(7, 0, counted=True)), _grant())
    assert span.attributes["gen_ai.usage.input_tokens"] == 7
    assert span.attributes["gen_ai.usage.output_tokens"] == 0
    assert span.attributes["agentdeck.usage.counted"] is True


def test_call_span_of_a_failed_call_is_an_error_with_its_type() -> None:
    error = "upstream_error: the provider answered 502"
    span = call_span(_record(outcome="error", error=error), _grant())
    assert span.status == "error"
    assert span.status_message == error
    assert span.attributes["error.type"] == "upstream_error"
    assert span.attributes["agentdeck.outcome"] == "error"


def test_call_span_of_a_failed_call_without_a_message_uses_the_outcome() -> None:
    span = call_span(_record(outcome="stream_error", error=None), _grant())
    assert span.status == "error"
    assert span.status_message == "stream_error"
    assert span.attributes["error.type"] == "stream_error"


def test_call_span_with_an_error_is_an_error_whatever_the_outcome() -> None:
    span = call_span(_record(outcome="ok", error="rate_limited: slow down"), _grant())
    assert span.status == "error"
    assert span.attributes["error.type"] == "rate_limited"


def test_call_span_of_an_unfinished_call_is_a_cancelled_error() -> None:
    span = call_span(_record(outcome="unfinished", error="upstream_error: x"), _grant())
    assert span.status == "error"
    assert span.status_message is not None
    assert "ended before its answer" in span.status_message
    assert span.attributes["error.type"] == "cancelled"
    assert span.attributes["agentdeck.outcome"] == "unfinished"


def test_call_span_hashes_the_end_user() -> None:
    span = call_span(_record(end_user="bob@example.com"), _grant("ten-1"))
    user = span.user_id
    assert user is not None
    assert re.fullmatch(r"h:[0-9a-f]{32}", user)
    assert "bob" not in user
    assert span.attributes["agentdeck.user.id"] == user
    assert user == hashed_user("ten-1", "bob@example.com")
    # The same user of the same tenant hashes alike; another tenant or user does not.
    assert call_span(_record(end_user="bob@example.com"), _grant("ten-1")).user_id == user
    assert call_span(_record(end_user="bob@example.com"), _grant("ten-2")).user_id != user
    assert call_span(_record(end_user="carol@example.com"), _grant("ten-1")).user_id != user


def test_hashed_user_separates_tenant_and_user() -> None:
    # "a" + "bc" and "ab" + "c" must not hash alike.
    assert hashed_user("a", "bc") != hashed_user("ab", "c")
    assert len(hashed_user("t", "u")) == 34


def test_call_span_keeps_raw_user_ids_when_asked() -> None:
    span = call_span(_record(end_user="bob@example.com"), _grant(), raw_user_ids=True)
    assert span.user_id == "bob@example.com"
    assert span.attributes["agentdeck.user.id"] == "bob@example.com"


def test_call_span_notes_the_fallback_path_only_after_a_fallback() -> None:
    single = call_span(_record(path=["smart"]), _grant())
    assert "agentdeck.fallback.path" not in single.attributes
    none = call_span(_record(path=[]), _grant())
    assert "agentdeck.fallback.path" not in none.attributes
    fell_back = call_span(_record(path=["smart", "cheap", "local"], attempts=3), _grant())
    assert fell_back.attributes["agentdeck.fallback.path"] == ["smart", "cheap", "local"]
    assert fell_back.attributes["agentdeck.attempts"] == 3


def test_call_span_notes_the_route_and_a_stream() -> None:
    span = call_span(_record(route="long-context>big", stream=True), _grant())
    assert span.attributes["agentdeck.route"] == "long-context>big"
    assert span.attributes["agentdeck.stream"] is True


def test_call_span_row_is_storable_json() -> None:
    span = call_span(_record(tags=("x",), end_user="u"), _grant())
    row = span.row()
    attributes = orjson.loads(row["attributes"])
    assert attributes["agentdeck.tags"] == ["x"]
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert row["duration_us"] >= 250_000


def test_column_lengths_match_the_spans_table() -> None:
    bounded = {
        column.name: column.type.length
        for column in spans.columns
        if getattr(column.type, "length", None) is not None
    }
    assert bounded == COLUMN_LENGTHS


def test_a_calls_tags_are_stored_to_be_matched_whole() -> None:
    span = call_span(_record(tags=("beta", "eval")), _grant())
    assert span.tags == ",beta,eval,"
    assert call_span(_record(), _grant()).tags is None
    long = make_span("00000000000000f1", name="chat " + "m" * 300, tags="," + "t" * 2000 + ",")
    row = long.row()
    assert (len(row["name"]), len(row["tags"])) == (256, 1024)
