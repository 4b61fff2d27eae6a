"""Relaying an upstream stream to the client chunk by chunk, and accounting for it once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import orjson

from agentdeck.errors import (
    AgentdeckError,
    GuardrailBlockedError,
    UpstreamError,
    UpstreamStreamBrokenError,
)
from agentdeck.gateway.models import JSON, CallRecord, StreamEvent, Usage
from agentdeck.gateway.tokens import StreamingTokenCounter
from agentdeck.guardrails.pipeline import StreamGuard

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"


def sse(data: bytes) -> bytes:
    """One server-sent event carrying `data`."""
    return b"data: " + data + b"\n\n"


def generated_text(answer: dict[str, Any], key: str = "delta") -> str:
    """The generated text (content, tool-call names and arguments) in a chunk's deltas, or with
    `key="message"` in a whole answer's messages; malformed parts are skipped."""
    parts: list[str] = []
    choices = answer.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get(key) if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        content = delta.get("content")
        if isinstance(content, str):
            parts.append(content)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.extend(
                    v
                    for v in (function.get("name"), function.get("arguments"))
                    if isinstance(v, str)
                )
    return "".join(parts)


class StreamEncoder(Protocol):
    """Frames a relayed stream in the client's wire format."""

    def chunk(self, event: StreamEvent) -> bytes | None:
        """The bytes for one upstream chunk, or None to send nothing."""
        ...

    def finish(self, record: CallRecord) -> bytes:
        """The closing bytes once the stream ended normally (usage and cost are settled)."""
        ...

    def error(self, error: AgentdeckError) -> bytes:
        """The bytes that tell the client the stream failed mid-way."""
        ...


class OpenAIEncoder:
    """OpenAI Chat Completions framing: chunks as sent, a cost comment, then `[DONE]`."""

    def __init__(self, client_wants_usage: bool) -> None:
        self._client_wants_usage = client_wants_usage

    def chunk(self, event: StreamEvent) -> bytes | None:
        """Pass the chunk through; hide the usage chunk agentdeck asked for on its own account."""
        chunk = event.chunk
        if not self._client_wants_usage and "usage" in chunk and not chunk.get("choices"):
            return None
        return sse(event.data)

    def finish(self, record: CallRecord) -> bytes:
        """The cost as an SSE comment, then the `[DONE]` sentinel."""
        return f": agentdeck-cost-micros={record.cost_micros}\n\n".encode() + DONE

    def error(self, error: AgentdeckError) -> bytes:
        """An OpenAI-shaped error object as the last event (the OpenAI SDKs raise on it)."""
        return sse(error.to_json())


class StreamRelay:
    """Passes events through as they arrive; takes usage from the final chunk or counts it.

    `on_settle(record, outcome, error)` runs exactly once: at the end of the stream
    (`ok`), on a failure (`error`), or when the client went away (`client_closed`: the
    response calls `aclose`, which also covers a client gone before the first byte).
    Generated text is counted chunk by chunk, so nothing holds the whole stream.
    """

    def __init__(
        self,
        first: StreamEvent,
        rest: AsyncIterator[StreamEvent],
        record: CallRecord,
        *,
        prompt_tokens: Callable[[], int],
        encoder: StreamEncoder,
        on_settle: Callable[[CallRecord, str, AgentdeckError | None], None],
    ) -> None:
        self._first = first
        self._rest = rest
        self._record = record
        self._prompt_tokens = prompt_tokens
        self._encoder = encoder
        self._on_settle = on_settle
        self._reported: Usage | None = None
        self._output = StreamingTokenCounter()
        self._settled = False
        # Output guardrails, window by window, one window per choice of the stream.
        guard = record.guard
        self._call_guard = guard if guard is not None and guard.guards_streams else None
        self._guards: dict[int, StreamGuard] = {}
        self._last: JSON = first.chunk

    def _take(self, event: StreamEvent) -> bytes | None:
        usage = Usage.from_openai(event.chunk.get("usage"))
        if usage is not None:
            self._reported = usage
        text = generated_text(event.chunk)
        self._output.add(text)
        if self._record.content is not None:
            self._record.content.add_output(text)
        return self._encoder.chunk(event)

    async def _guarded(self, event: StreamEvent) -> StreamEvent:
        """The event with each choice's text as the output guardrails let it through: held
        back while a finding may still be forming, redacted, or raising when blocked."""
        guards, call_guard = self._guards, self._call_guard
        assert call_guard is not None
        changed = False
        choices = event.chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index", 0), int) else 0
            guard = guards.get(index)
            if guard is None:
                guard = guards[index] = call_guard.stream()
            content = delta.get("content")
            out = await guard.feed(content) if isinstance(content, str) and content else None
            if choice.get("finish_reason") is not None:
                out = (out or "") + await guard.finish()
            if out is not None:
                delta["content"], changed = out, True
        self._last = event.chunk
        return StreamEvent(orjson.dumps(event.chunk), event.chunk) if changed else event

    async def _held_back(self) -> StreamEvent | None:
        """A last event carrying the text still held when the stream ended without a
        finishing chunk (None when nothing is held)."""
        if not self._guards:
            return None
        choices = []
        for index, guard in sorted(self._guards.items()):
            text = await guard.finish()
            if text:
                choices.append({"index": index, "delta": {"content": text}, "finish_reason": None})
        if not choices:
            return None
        chunk: JSON = {key: self._last[key] for key in ("id", "object", "created", "model")
                 if key in self._last}  # fmt: skip
        chunk["choices"] = choices
        return StreamEvent(orjson.dumps(chunk), chunk)

    def _settle(self, outcome: str, error: AgentdeckError | None) -> None:
        if self._settled:
            return
        self._settled = True
        self._record.usage = self._reported or Usage(
            self._prompt_tokens(), self._output.total, counted=True
        )
        self._on_settle(self._record, outcome, error)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The bytes to send the client: each event, then the closing bytes or an error."""
        completed = False
        try:
            guarded = self._call_guard is not None
            first = self._take(await self._guarded(self._first) if guarded else self._first)
            if first:
                yield first
            async for event in self._rest:
                out = self._take(await self._guarded(event) if guarded else event)
                if out:
                    yield out
            last = await self._held_back() if guarded else None
            if last is not None and (out := self._encoder.chunk(last)):
                yield out
            completed = True
        except GuardrailBlockedError as error:
            self._settle("blocked", error)
            yield self._encoder.error(error)
            return
        except UpstreamError as error:
            self._settle("error", error)
            yield self._encoder.error(error)
            return
        except Exception as exc:
            # A bug, or an upstream chunk no check foresaw: the client still gets an error
            # event rather than a cut connection, and the call is settled and logged.
            log.exception("stream %s failed", self._record.request_id)
            failure = UpstreamStreamBrokenError(f"stream failed: {type(exc).__name__}")
            self._settle("error", failure)
            yield self._encoder.error(failure)
            return
        finally:
            try:
                self._settle("ok" if completed else "client_closed", None)
            finally:
                await close_events(self._rest)
        yield self._encoder.finish(self._record)

    async def aclose(self) -> None:
        """Settle as `client_closed` if nothing else did, and close the upstream stream."""
        try:
            self._settle("client_closed", None)
        finally:
            await close_events(self._rest)


async def close_events(events: AsyncIterator[StreamEvent]) -> None:
    """Close an event iterator that can be closed (an async generator), releasing its upstream."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
