"""Shadow traffic: a copy of a share of an alias's calls goes to another deployment.

The shadow's answer is recorded (outcome, latency, tokens and cost in metrics, a log line with
the request id) and never returned; it runs after the client's answer, off the request path,
with a bound on how many run at once (past it, copies are skipped and counted).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import orjson

from agentdeck.errors import AgentdeckError
from agentdeck.gateway.catalog import Deployment, ModelAlias
from agentdeck.gateway.models import JSON
from agentdeck.gateway.pricing import cost_micros
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 64


class ShadowRunner:
    """Starts and tracks shadow calls."""

    def __init__(self, metrics: Metrics, rng: random.Random | None = None) -> None:
        self._metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - traffic sampling, not security
        self._tasks: set[asyncio.Task[None]] = set()

    def maybe_mirror(self, alias: ModelAlias, body: JSON, request_id: str) -> None:
        """Mirror `body` to the alias's shadow deployment, for its configured share of calls."""
        split, shadow = alias.spec.shadow, alias.shadow
        if split is None or shadow is None or self._rng.random() * 100 >= split.percent:
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self._metrics.shadow_calls.labels(shadow.id, "skipped").inc()
            return
        copy = orjson.loads(orjson.dumps(body))  # the caller's dict may change after this
        copy.pop("stream", None)
        copy.pop("stream_options", None)
        copy["model"] = shadow.settings.model
        task = asyncio.create_task(self._call(shadow, copy, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, shadow: Deployment, body: JSON, request_id: str) -> None:
        started = time.perf_counter()
        try:
            reply = await shadow.provider.chat(body)
        except AgentdeckError as error:
            self._metrics.shadow_calls.labels(shadow.id, "error").inc()
            log.info("shadow %s for %s failed: %s", shadow.id, request_id, error.message)
            return
        elapsed = time.perf_counter() - started
        cost = cost_micros(reply.usage, shadow.settings)
        m = self._metrics
        m.shadow_calls.labels(shadow.id, "ok").inc()
        m.upstream_latency.labels(shadow.id).observe(elapsed)
        m.tokens.labels(shadow.id, "input").inc(reply.usage.input_tokens)
        m.tokens.labels(shadow.id, "output").inc(reply.usage.output_tokens)
        m.cost.labels(shadow.id).inc(cost)
        log.info(
            "shadow %s for %s answered in %.3fs, %d+%d tokens, %d micro-dollars",
            shadow.id, request_id, elapsed, reply.usage.input_tokens, reply.usage.output_tokens,
            cost,
        )  # fmt: skip

    async def drain(self) -> None:
        """Wait for shadow calls under way (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
