"""Forwarding stored spans to an external collector (Jaeger, Tempo, Datadog, Langfuse, ...).

The recorder tells the exporter of every batch it stored (`offer`). The exporter keeps its own
bounded queue (a full queue drops and counts, never waits) and a background task sends batches
as OTLP/HTTP protobuf `ExportTraceServiceRequest`s. What the OTLP specification says may be
retried is retried with exponential backoff (connection errors, timeouts, 429, 502, 503, 504,
honouring `Retry-After`); anything else gives the batch up. Every span offered ends counted
once: sent, rejected (the collector's partial success), failed (given up) or dropped (never
sent: the queue was full, or a stop ran out of time).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections import deque
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentdeck import __version__
from agentdeck.errors import ConfigurationError
from agentdeck.settings import read_credential
from agentdeck.settings_tracing import ExportSettings
from agentdeck.tracing.export_encoding import encode
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.spans import Span

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 60.0  # a collector asking for longer holds the queue back no longer
OUTCOMES = ("sent", "rejected", "failed", "dropped")


class SpanExporter(Protocol):
    """Where stored spans go next: told of every stored batch, started and stopped with the
    app. `offer` runs on the recorder's task, so it must neither wait nor raise."""

    def offer(self, spans: list[Span]) -> None:
        """Take spans that were just stored."""

    async def start(self) -> None:
        """Begin exporting in the background."""

    async def stop(self) -> None:
        """Export what is queued (within a time limit), then stop."""


def traces_url(endpoint: str) -> str:
    """The URL export requests go to: `endpoint`, with `/v1/traces` when it has no path."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return parts._replace(path="/v1/traces").geturl()
    return endpoint


def export_headers(settings: ExportSettings) -> dict[str, str]:
    """The configured headers, those named in `headers_env` read from the environment."""
    headers = dict(settings.headers)
    for name, variable in settings.headers_env.items():
        value = read_credential(variable)
        if value is None:
            raise ConfigurationError(
                f"tracing.export.headers_env: environment variable {variable} "
                f"(header {name}) is not set"
            )
        headers[name] = value
    return headers


def retry_after_s(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date), None without one."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OtlpExporter:
    """Forwards stored spans to one OTLP/HTTP collector in batches, off the request path."""

    def __init__(
        self, settings: ExportSettings, metrics: Metrics | None = None, backoff_s: float = 0.5
    ) -> None:
        if settings.endpoint is None:
            raise ConfigurationError("tracing.export.endpoint is not set")
        self.url = traces_url(settings.endpoint)
        self._settings = settings
        self._headers = {
            **export_headers(settings),
            "content-type": "application/x-protobuf",
            "user-agent": f"agentdeck/{__version__}",
        }
        if settings.compression == "gzip":
            self._headers["content-encoding"] = "gzip"
        self._projects = frozenset(settings.projects)
        self._backoff_s = backoff_s
        self._metrics = metrics
        self._queue: deque[Span] = deque()
        self._ready = asyncio.Event()  # spans queued, or a stop asked for
        self._stopping = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sending = 0  # spans of the batch being sent
        self.counts = dict.fromkeys(OUTCOMES, 0)

    @property
    def pending(self) -> int:
        """Spans queued or being sent."""
        return len(self._queue) + self._sending

    def offer(self, spans: list[Span]) -> None:
        """Queue the spans the export applies to; never waits (a full queue drops, counted)."""
        projects = self._projects
        room = 0 if self._closed else self._settings.queue_max - len(self._queue)
        taken = [span for span in spans if not projects or span.project_id in projects]
        if len(taken) > room:
            self._count("dropped", len(taken) - max(room, 0))
            taken = taken[: max(room, 0)]
        if taken:
            self._queue.extend(taken)
            self._ready.set()

    async def start(self) -> None:
        """Begin exporting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="otlp exporter")

    async def stop(self) -> None:
        """Export everything queued within `shutdown_timeout_s`; what is left is dropped
        (counted). Later offers are dropped too."""
        self._stopping.set()
        self._ready.set()
        await self.start()  # a stop without a start still exports what was offered
        assert self._task is not None
        done, _ = await asyncio.wait({self._task}, timeout=self._settings.shutdown_timeout_s)
        self._closed = True
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            unsent = self._sending + len(self._queue)
            log.warning("otlp export: the stop ran out of time; %d spans not sent", unsent)
            self._count("failed", self._sending)  # the batch under way
            self._count("dropped", len(self._queue))
            self._queue.clear()
            self._sending = 0
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        settings = self._settings
        while True:
            if not self._queue:
                if self._stopping.is_set():
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            if len(self._queue) < settings.batch and not self._stopping.is_set():
                # Let a batch gather; a stop ends the wait.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), settings.flush_interval_s)
            size = min(settings.batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(size)]
            self._sending = size
            try:
                await self._send(batch)
            except Exception:  # a bug must not end the exporter: the batch is counted failed
                log.exception("otlp export: a batch of %d spans could not be sent", size)
                self._count("failed", size)
            self._sending = 0

    async def _send(self, batch: list[Span]) -> None:
        include_content = self._settings.include_content
        compress = self._settings.compression == "gzip"
        # Building and compressing thousands of spans is CPU work: off the event loop.
        body, unusable = await asyncio.to_thread(encode, batch, include_content, compress)
        if unusable:
            log.warning("otlp export: %d spans have unusable ids; not sent", unusable)
            self._count("failed", unusable)
        count = len(batch) - unusable
        if count == 0:
            return
        delay = self._backoff_s
        for attempt in range(1, self._settings.max_attempts + 1):
            status, wait_s, reason = await self._post(body, count)
            if status == "done":
                return
            if status == "final" or attempt == self._settings.max_attempts:
                break
            jittered = delay * random.uniform(0.5, 1.0)  # noqa: S311 - not a secret
            wait_s = min(max(jittered, wait_s or 0.0), MAX_RETRY_AFTER_S)
            log.info("otlp export: %s; attempt %d in %.2fs", reason, attempt + 1, wait_s)
            await asyncio.sleep(wait_s)
            delay = min(delay * 2, MAX_BACKOFF_S)
        log.warning("otlp export: gave up on %d spans: %s", count, reason)
        self._count("failed", count)

    async def _post(self, body: bytes, count: int) -> tuple[str, float | None, str]:
        """One request: ("done" | "retry" | "final", seconds asked to wait, reason)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s)
            )
        try:
            async with self._session.post(self.url, data=body, headers=self._headers) as answer:
                payload = await answer.read()
                status, retry_after = answer.status, answer.headers.get("retry-after")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return "retry", None, f"{self.url}: {type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            self._accepted(payload, count)
            return "done", None, ""
        text = payload[:300].decode("utf-8", "replace")
        reason = f"{self.url} answered {status}: {text}"
        if status in RETRYABLE_STATUSES:
            return "retry", retry_after_s(retry_after), reason
        return "final", None, reason

    def _accepted(self, payload: bytes, count: int) -> None:
        """Count a successful export; a partial success's rejected spans are counted apart."""
        rejected = 0
        if payload:
            try:
                answer = ExportTraceServiceResponse.FromString(payload)
            except DecodeError:
                answer = None  # a body that is not a response: the export succeeded
            if answer is not None and answer.HasField("partial_success"):
                rejected = min(max(answer.partial_success.rejected_spans, 0), count)
                if rejected or answer.partial_success.error_message:
                    log.warning(
                        "otlp export: the collector rejected %d of %d spans: %s",
                        rejected, count, answer.partial_success.error_message,
                    )  # fmt: skip
        self._count("rejected", rejected)
        self._count("sent", count - rejected)

    def _count(self, outcome: str, count: int) -> None:
        if count <= 0:
            return
        self.counts[outcome] += count
        if self._metrics is not None:
            self._metrics.otlp_export.labels(outcome).inc(count)
