"""The background side of alerts on every replica: every tick it claims the rules and SLOs
that are due and evaluates them, then claims the deliveries that are due and sends them.

Claims are compare-and-sets on the row's due time, so any number of replicas can run this and
each rule is evaluated once per interval, each delivery attempt made once. A replica that dies
holding a claim loses it when the claim's time runs out: the rule is evaluated at its next
interval, the delivery retried after its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.settings_alerts import AlertSettings
from agentdeck.tracing.aggregates import SECOND_NS, MetricsQueries
from agentdeck.tracing.alerts.evaluate import evaluate_metric_rule
from agentdeck.tracing.alerts.history import record_evaluation, record_failure
from agentdeck.tracing.alerts.models import MetricRuleSpec, SloSpec, Verdict
from agentdeck.tracing.alerts.slo import burn_windows, slo_counts, slo_verdict
from agentdeck.tracing.alerts.tables import alert_rules
from agentdeck.tracing.alerts.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
_R = alert_rules.c


async def evaluate(engine: AsyncEngine, rule: Any, now_ns: int) -> Verdict:
    """Evaluate a stored rule or SLO at `now_ns`."""
    spec = orjson.loads(rule.spec)
    if rule.kind == "slo":
        slo = SloSpec.model_validate(spec)
        if not slo.burn_alerts:
            return Verdict(None, None, None, f"{slo.name}: no burn-rate alerts")
        counts = await slo_counts(engine, rule.tenant_id, slo, now_ns, burn_windows(slo))
        return slo_verdict(slo, counts)
    metric = MetricRuleSpec.model_validate(spec)
    return await evaluate_metric_rule(MetricsQueries(engine), rule.tenant_id, metric, now_ns)


class AlertWorker:
    """Evaluates due rules and delivers due webhooks, every `tick_s`."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: AlertSettings,
        deliverer: WebhookDeliverer,
        on_evaluated: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self.deliverer = deliverer
        self._on_evaluated = on_evaluated
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Begin in the background (when alerts are enabled on this replica)."""
        if self._settings.enabled:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop; a claim held now expires and is taken up again by whoever runs next."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.deliverer.close()

    def wake(self) -> None:
        """Run a tick now (a rule was created or changed)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("alert tick failed, retrying next tick: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.tick_s)
            self._wake.clear()

    async def tick(self, now_ns: int | None = None) -> tuple[int, int]:
        """One round: (rules evaluated, deliveries attempted)."""
        evaluated = await self.evaluate_due(now_ns)
        attempted = await self.deliverer.deliver_due(now_ns)
        return evaluated, attempted

    async def evaluate_due(self, now_ns: int | None = None) -> int:
        """Claim and evaluate the rules due at `now_ns`; how many were evaluated."""
        now = time.time_ns() if now_ns is None else now_ns
        async with self._engine.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(alert_rules)
                    .where(_R.enabled.is_(True), _R.next_eval_ns <= now)
                    .order_by(_R.next_eval_ns)
                    .limit(self._settings.batch)
                )
            ).all()
        evaluated = 0
        for rule in due:
            if not await self._claim(rule, now):
                continue  # another replica has it
            evaluated += 1
            try:
                verdict = await evaluate(self._engine, rule, now)
            except (OSError, sa.exc.SQLAlchemyError, ValueError) as exc:
                log.warning("alert rule %s could not be evaluated: %s", rule.id, exc)
                await record_failure(self._engine, rule.id, str(exc), now)
                self._count("failed")
                continue
            event = await record_evaluation(self._engine, rule, verdict, now)
            self._count("fired" if event and verdict.firing else "resolved" if event else "ok")
        return evaluated

    async def _claim(self, rule: Any, now_ns: int) -> bool:
        following = now_ns + rule.interval_s * SECOND_NS
        async with self._engine.begin() as conn:
            done = await conn.execute(
                alert_rules.update()
                .where(_R.id == rule.id, _R.next_eval_ns == rule.next_eval_ns)
                .values(next_eval_ns=following)
            )
        return bool(done.rowcount == 1)

    def _count(self, outcome: str) -> None:
        if self._on_evaluated is not None:
            self._on_evaluated(outcome)
