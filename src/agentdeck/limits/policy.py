"""Limit rules as stored, and the plan they make for one caller: which rate limits and budgets
apply to a request, by the scopes it belongs to (key, user, teams, project, tenant) and the
model alias it names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from agentdeck.limits.service import Budget, Period, RateLimit, Scope

SCOPE_KINDS = ("tenant", "project", "team", "user", "key", "model")
METRICS = ("requests", "tokens", "cost")
Metric = Literal["requests", "tokens", "cost"]


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One stored rule: `amount` of `metric` per `period` for a scope of a tenant.

    Requests and tokens are limited per minute; cost (micro-dollars) per day, month or in
    total. A `model` scope names an alias and applies to every caller in the tenant.
    """

    id: str
    tenant_id: str
    scope_kind: str
    scope_id: str
    metric: Metric
    amount: int
    period: str
    soft_percent: int | None = None

    def problems(self) -> list[str]:
        """What is wrong with this rule, as messages naming the field (empty when valid)."""
        found = []
        if self.scope_kind not in SCOPE_KINDS:
            found.append(f"scope_kind must be one of {', '.join(SCOPE_KINDS)}")
        if self.metric not in METRICS:
            found.append(f"metric must be one of {', '.join(METRICS)}")
        elif self.metric == "cost" and self.period not in ("day", "month", "total"):
            found.append("period of a cost budget must be day, month or total")
        elif self.metric != "cost" and self.period != "minute":
            found.append(f"period of a {self.metric} limit must be minute")
        if self.amount < 0:
            found.append("amount must be zero or more")
        if self.soft_percent is not None and (
            self.metric != "cost" or not 1 <= self.soft_percent <= 99
        ):
            found.append("soft_percent is for cost budgets only, between 1 and 99")
        return found

    def scope(self) -> Scope:
        """The kv scope: ids are unique across tenants, alias names are not."""
        if self.scope_kind == "model":
            return Scope("model", f"{self.tenant_id}/{self.scope_id}")
        return Scope(self.scope_kind, self.scope_id)


@dataclass(frozen=True, slots=True)
class Limits:
    """The rate limits and budgets one request is held to."""

    requests: tuple[RateLimit, ...] = ()
    tokens: tuple[RateLimit, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __add__(self, other: Limits) -> Limits:
        return Limits(
            self.requests + other.requests, self.tokens + other.tokens, self.budgets + other.budgets
        )

    @property
    def empty(self) -> bool:
        """Whether nothing limits the request."""
        return not (self.requests or self.tokens or self.budgets)


def budget_of(rule: LimitRule) -> Budget:
    """The budget a cost rule sets."""
    period = cast(Period, rule.period)
    return Budget(rule.scope(), rule.amount, period, rule.soft_percent, rule.tenant_id)


def _limits(rules: Iterable[LimitRule]) -> Limits:
    requests, tokens, budgets = [], [], []
    for rule in rules:
        if rule.metric == "requests":
            requests.append(RateLimit(rule.scope(), rule.amount, "requests"))
        elif rule.metric == "tokens":
            tokens.append(RateLimit(rule.scope(), rule.amount, "tokens"))
        else:
            budgets.append(budget_of(rule))
    return Limits(tuple(requests), tuple(tokens), tuple(budgets))


@dataclass(frozen=True, slots=True)
class LimitPlan:
    """A caller's limits: those of its own scopes, and per model alias those of the alias."""

    caller: Limits = field(default_factory=Limits)
    per_model: Mapping[str, Limits] = field(default_factory=dict)

    def for_model(self, alias: str) -> Limits:
        """Everything a request for `alias` is held to."""
        extra = self.per_model.get(alias)
        return self.caller + extra if extra is not None else self.caller


def plan(rules: Iterable[LimitRule], scopes: Mapping[str, Iterable[str]]) -> LimitPlan:
    """The plan for a caller in `scopes` (kind -> ids) from its tenant's rules."""
    wanted = {(kind, scope_id) for kind, ids in scopes.items() for scope_id in ids}
    own: list[LimitRule] = []
    per_model_rules: dict[str, list[LimitRule]] = {}
    for rule in rules:
        if rule.scope_kind == "model":
            per_model_rules.setdefault(rule.scope_id, []).append(rule)
        elif (rule.scope_kind, rule.scope_id) in wanted:
            own.append(rule)
    return LimitPlan(
        _limits(own), {alias: _limits(found) for alias, found in per_model_rules.items()}
    )
