"""StreamRelay settles exactly once, whether the stream ends, breaks, or the client leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from agentdeck.errors import AgentdeckError, UpstreamStreamBrokenError
from agentdeck.gateway.models import CallRecord, StreamEvent
from agentdeck.gateway.streaming import OpenAIEncoder, StreamRelay
from agentdeck.gateway.tokens import count_text


def _event(chunk: dict[str, Any]) -> StreamEvent:
    return StreamEvent(orjson.dumps(chunk), chunk)


def _content(text: str) -> StreamEvent:
    return _event({"choices": [{"index": 0, "delta": {"content": text}}]})


USAGE = _event({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 5}})


class Upstream:
    """A provider stream from a list; raises `fail` after it; records whether it was closed."""

    def __init__(self, events: list[StreamEvent], fail: Exception | None = None) -> None:
        self.events = events
        self.fail = fail
        self.closed = False

    async def stream(self) -> AsyncIterator[StreamEvent]:
        try:
            for event in self.events:
                yield event
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


async def _relay(upstream: Upstream, wants_usage: bool) -> tuple[StreamRelay, list[Any]]:
    """A relay over `upstream` whose settlements (outcome, error, usage) land in the list."""
    settled: list[Any] = []

    def on_settle(record: CallRecord, outcome: str, error: AgentdeckError | None) -> None:
        record.cost_micros = record.usage.input_tokens + record.usage.output_tokens
        settled.append((outcome, error, record.usage))

    events = upstream.stream()
    relay = StreamRelay(
        await anext(events),
        events,
        CallRecord("req_1", "a"),
        prompt_tokens=lambda: 9,
        encoder=OpenAIEncoder(wants_usage),
        on_settle=on_settle,
    )
    return relay, settled


async def _collect(relay: StreamRelay) -> list[bytes]:
    return [piece async for piece in relay]


@pytest.mark.parametrize("wants_usage", [True, False])
async def test_complete_stream_uses_reported_usage(wants_usage: bool) -> None:
    upstream = Upstream([_content("Hel"), _content("lo"), USAGE])
    relay, settled = await _relay(upstream, wants_usage)
    out = await _collect(relay)
    usage_sent = any(b'"usage"' in piece for piece in out)
    assert usage_sent is wants_usage
    assert out[-1] == b": agentdeck-cost-micros=16\n\ndata: [DONE]\n\n"
    assert len(settled) == 1
    outcome, error, usage = settled[0]
    assert (outcome, error, usage.input_tokens, usage.output_tokens, usage.counted) == (
        "ok",
        None,
        11,
        5,
        False,
    )
    assert upstream.closed


async def test_break_mid_stream_counts_what_was_streamed() -> None:
    broken = UpstreamStreamBrokenError("upstream x reset the stream")
    upstream = Upstream([_content("one "), _content("two ")], fail=broken)
    relay, settled = await _relay(upstream, wants_usage=False)
    out = await _collect(relay)
    assert orjson.loads(out[-1][6:])["error"]["code"] == "upstream_stream_broken"
    assert [s[0] for s in settled] == ["error"]
    usage = settled[0][2]
    assert (usage.input_tokens, usage.output_tokens, usage.counted) == (
        9,
        count_text("one two "),
        True,
    )


async def test_client_leaving_settles_once_and_closes_upstream() -> None:
    upstream = Upstream([_content("a"), _content("b"), _content("c"), USAGE])
    relay, settled = await _relay(upstream, wants_usage=False)
    iterator = aiter(relay)
    await anext(iterator)
    await anext(iterator)
    await iterator.aclose()  # what the response does when the client disconnects
    assert [s[0] for s in settled] == ["client_closed"]
    assert settled[0][2].output_tokens == count_text("ab")
    assert upstream.closed


async def test_closing_before_the_first_chunk_still_settles() -> None:
    upstream = Upstream([_content("a"), _content("b")])
    relay, settled = await _relay(upstream, wants_usage=False)
    await relay.aclose()  # the client left before the response started
    await relay.aclose()  # and a second close changes nothing
    assert [s[0] for s in settled] == ["client_closed"]
    assert upstream.closed


async def test_an_unexpected_failure_mid_stream_becomes_an_error_event() -> None:
    upstream = Upstream([_content("a")], fail=KeyError("surprise"))
    relay, settled = await _relay(upstream, wants_usage=False)
    out = await _collect(relay)
    error = orjson.loads(out[-1][6:])["error"]
    assert error["code"] == "upstream_stream_broken"
    assert error["message"] == "stream failed: KeyError"
    assert [s[0] for s in settled] == ["error"]
