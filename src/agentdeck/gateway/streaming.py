"""Relaying an upstream stream to the client chunk by chunk, and accounting for it once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from agentdeck.errors import AgentdeckError, UpstreamError
from agentdeck.gateway.models import CallRecord, StreamEvent, Usage
from agentdeck.gateway.tokens import count_text

DONE = b"data: [DONE]\n\n"


def sse(data: bytes) -> bytes:
    """One server-sent event carrying `data`."""
    return b"data: " + data + b"\n\n"


def _delta_text(chunk: dict[str, Any]) -> str:
    """The generated text (content and tool-call arguments) carried by one chunk."""
    parts: list[str] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        content = delta.get("content")
        if isinstance(content, str):
            parts.append(content)
        for call in delta.get("tool_calls") or ():
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
    (`ok`), on an upstream failure (`error`), or when the client went away mid-stream
    (`client_closed`, from the `finally` that closing or cancelling the iterator runs).
    """

    def __init__(
        self,
        first: StreamEvent,
        rest: AsyncIterator[StreamEvent],
        record: CallRecord,
        *,
        prompt_tokens: int,
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
        self._generated: list[str] = []
        self._settled = False

    def _take(self, event: StreamEvent) -> bytes | None:
        usage = Usage.from_openai(event.chunk.get("usage"))
        if usage is not None:
            self._reported = usage
        self._generated.append(_delta_text(event.chunk))
        return self._encoder.chunk(event)

    def _settle(self, outcome: str, error: AgentdeckError | None) -> None:
        if self._settled:
            return
        self._settled = True
        self._record.usage = self._reported or Usage(
            self._prompt_tokens, count_text("".join(self._generated)), counted=True
        )
        self._on_settle(self._record, outcome, error)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The bytes to send the client: each event, then the closing bytes or an error."""
        completed = False
        try:
            first = self._take(self._first)
            if first:
                yield first
            async for event in self._rest:
                out = self._take(event)
                if out:
                    yield out
            completed = True
        except UpstreamError as error:
            self._settle("error", error)
            yield self._encoder.error(error)
            return
        finally:
            self._settle("ok" if completed else "client_closed", None)
            await _close(self._rest)
        yield self._encoder.finish(self._record)


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
