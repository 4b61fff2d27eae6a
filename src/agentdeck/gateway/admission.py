"""The gateway's front steps: who is calling (identity), may they use this model (RBAC), and
are they within their rate limits and budgets (limits). A `Ticket` admitted here is finished
exactly once after the call: its budget reservation settled with the actual cost (or released),
its tokens counted, its spend queued for the ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

from agentdeck.errors import PermissionDeniedError
from agentdeck.gateway.call_spans import call_span
from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.gateway.models import JSON, CallContent, CallRecord
from agentdeck.identity.audit_log import AuditEvent, AuditQueue
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.grants import Grant
from agentdeck.limits.policy import Limits
from agentdeck.limits.service import BudgetLedger, BudgetReservation, RateLimiter
from agentdeck.limits.spend import SpendEntry, SpendLedger
from agentdeck.tracing.content import ContentPolicies
from agentdeck.tracing.recorder import SpanRecorder

log = logging.getLogger(__name__)
_PER_MTOK = 1_000_000
# Upper bound on input tokens: a token is at least one byte of what is sent, plus framing.
_FRAMING_TOKENS = 64


def request_headers(scope: Scope) -> dict[str, str]:
    """The two headers that can carry a key, decoded."""
    found = {}
    for name, value in scope["headers"]:
        if name in (b"authorization", b"x-api-key"):
            found[name.decode()] = value.decode("latin-1")
    return found


def output_cap(body: JSON) -> int | None:
    """The most output tokens the request allows (`max_completion_tokens` or `max_tokens`)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@dataclass(slots=True)
class Ticket:
    """An admitted call: its grant, limits and budget reservation."""

    guard: GatewayGuard
    grant: Grant
    limits: Limits
    input_bound: int
    reservation: BudgetReservation | None = None
    window: int | None = None  # the minute its rate limits were counted in
    done: bool = False

    async def finish(self, record: CallRecord) -> None:
        """Settle the call at `record`'s cost and usage (0 when it failed before any output)."""
        if self.done:
            return
        self.done = True
        await self.guard.finish(self, record)


class GatewayGuard:
    """Admits gateway calls: authenticate, authorize the model, rate-limit, reserve budget."""

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        ledger: BudgetLedger,
        spend: SpendLedger,
        audit: AuditQueue,
        catalog: ModelCatalog,
        default_max_output: int,
        spans: SpanRecorder | None = None,
        raw_user_projects: frozenset[str] = frozenset(),
        content: ContentPolicies | None = None,
    ) -> None:
        self.authenticator = authenticator
        self._limiter = limiter
        self._ledger = ledger
        self._spend = spend
        self._audit = audit
        self._catalog = catalog
        self._default_max_output = default_max_output
        self._spans = spans
        self._raw_user_projects = raw_user_projects
        # Content is kept only for spans, and only when some project captures it.
        self._content = content if spans is not None and content and content.any_capture else None

    async def caller(self, scope: Scope, request_id: str | None) -> Grant:
        """The authenticated caller of a request (401 otherwise)."""
        return await self.authenticator.authenticate(request_headers(scope), request_id)

    def authorize_model(self, grant: Grant, alias: str, request_id: str | None) -> None:
        """403 (audited) unless the caller may use `alias`."""
        if not grant.access.allows("models:use", "models", alias):
            self._audit.add(
                AuditEvent(
                    grant.tenant_id,
                    grant.actor,
                    "model.denied",
                    f"model/{alias}",
                    after={"key": grant.key_id},
                    request_id=request_id,
                )
            )
            raise PermissionDeniedError(
                f"{grant.actor} may not use model {alias!r} with key {grant.key_id}", param="model"
            )

    async def admit(
        self, scope: Scope, body: JSON, record: CallRecord, request_bytes: int, chat: bool = True
    ) -> Ticket:
        """Authenticate, authorize and limit a call to `record.alias`; reserve its worst cost.

        When a budget applies and the request sets no output cap, the default cap is added to
        it: without a cap no worst case exists to reserve.
        """
        grant = await self.caller(scope, record.request_id)
        record.tenant_id = grant.tenant_id
        self.authorize_model(grant, record.alias, record.request_id)
        if self._content is not None:
            policy = self._content.of(grant.project_id)
            if policy.capture:
                record.content = CallContent(_asked(body, chat), policy.redact)
        limits = grant.limits.for_model(record.alias)
        input_bound = request_bytes + _FRAMING_TOKENS
        ticket = Ticket(self, grant, limits, input_bound)
        if limits.empty:
            return ticket
        counts = ((limits.requests, 1), (limits.tokens, input_bound))
        cost = self._worst_case(body, record.alias, input_bound, chat) if limits.budgets else 0
        ticket.window, ticket.reservation = await self._ledger.admit(counts, limits.budgets, cost)
        return ticket

    def _worst_case(self, body: JSON, alias: str, input_bound: int, chat: bool) -> int:
        """The most a call may cost; a chat call without an output cap gets the default one."""
        cap = output_cap(body) if chat else 0
        if chat and cap is None:
            cap = body["max_tokens"] = self._default_max_output
        price_in, price_out = self._catalog.worst_prices(alias)
        return -(-(input_bound * price_in + (cap or 0) * price_out) // _PER_MTOK)

    async def finish(self, ticket: Ticket, record: CallRecord) -> None:
        """Settle a ticket; the spend is queued for the ledger when there was any, and the
        call's span for the recorder."""
        grant, usage = ticket.grant, record.usage
        if self._spans is not None:
            raw_users = grant.project_id in self._raw_user_projects
            self._spans.record(call_span(record, grant, raw_users))
        if ticket.reservation is not None:
            await ticket.reservation.settle(record.cost_micros)
        used = usage.input_tokens + usage.output_tokens
        if ticket.limits.tokens:
            # Admitted at the upper bound; now count what was really used (often a refund).
            await self._limiter.record(
                ticket.limits.tokens, used - ticket.input_bound, ticket.window
            )
        if record.cost_micros:  # the ledger holds paid calls; usage alone is in the metrics
            self._spend.add(
                SpendEntry(
                    record.request_id,
                    grant.tenant_id,
                    grant.project_id,
                    grant.principal_id,
                    grant.key_id,
                    record.alias,
                    record.deployment_id or "none",
                    usage.input_tokens,
                    usage.output_tokens,
                    record.cost_micros,
                    datetime.now(UTC),
                )
            )


def _asked(body: JSON, chat: bool) -> Any:
    """What a call asked, as its span keeps it: the messages (an Anthropic `system` first),
    or an embedding's input."""
    if not chat:
        return body.get("input")
    messages = body.get("messages")
    system = body.get("system")
    if system is not None and isinstance(messages, list):
        return [{"role": "system", "content": system}, *messages]
    return messages
