"""What an alert rule and an SLO say, as given to the API and stored as JSON, and what one
evaluation finds.

A metric rule watches one figure of the span metrics (`tracing.aggregates`) over a trailing
window and fires when it is above or below a threshold, above k times its trailing average, or
an anomaly (more than z standard deviations above its trailing mean). An SLO is an objective
(availability or latency) over a rolling period; it fires on multi-window burn rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agentdeck.tracing.queries import SpanFilter

Metric = Literal[
    "requests",
    "errors",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost_usd",
    "cache_hit_rate",
    "tool_error_rate",
]
Condition = Literal["above", "below", "above_baseline", "anomaly"]
Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str | None, int] = {None: 0, "info": 1, "warning": 2, "critical": 3}
MAX_CHANNELS = 20
MAX_LOOKBACK_S = 92 * 86_400  # no rule reads more than this much history at once
NAME = Field(min_length=1, max_length=200)


class Scope(BaseModel):
    """Which spans a rule or SLO counts; every field left out counts all."""

    model_config = ConfigDict(extra="forbid")

    project_id: str | None = Field(default=None, max_length=40)
    model: str | None = Field(
        default=None, max_length=256, description="model alias, request or response model"
    )
    deployment: str | None = Field(default=None, max_length=256)
    tool: str | None = Field(default=None, max_length=256)
    operation: str | None = Field(default=None, max_length=64, description="e.g. chat")
    provider: str | None = Field(default=None, max_length=64)
    source: Literal["gateway", "otlp"] | None = None
    prompt_name: str | None = Field(default=None, max_length=256)
    prompt_version: int | None = Field(default=None, ge=0, lt=2**31)

    def span_filter(self) -> SpanFilter:
        """The span filter this scope means."""
        return SpanFilter(**self.model_dump())


class Routed(BaseModel):
    """What every rule and SLO has besides what it watches: where it goes and how often."""

    model_config = ConfigDict(extra="forbid")

    name: str = NAME
    scope: Scope = Field(default_factory=Scope)
    channels: list[str] = Field(
        default_factory=list, max_length=MAX_CHANNELS, description="alert channel ids"
    )
    interval_s: int = Field(default=60, ge=1, le=86_400, description="how often it is evaluated")
    enabled: bool = True


class MetricRuleSpec(Routed):
    """A rule on one span metric over a trailing window."""

    metric: Metric
    condition: Condition = "above"
    threshold: float = Field(
        allow_inf_nan=False,
        ge=0,
        description="above/below: the value (cost in dollars, rates as fractions 0-1, "
        "latency in ms); above_baseline: k (times the trailing average); anomaly: z "
        "(standard deviations over the trailing mean)",
    )
    window_s: int = Field(default=3600, ge=10, le=7 * 86_400)
    baseline_windows: int = Field(
        default=24,
        ge=3,
        le=1000,
        validate_default=True,
        description="trailing windows for above_baseline and anomaly",
    )
    min_requests: int = Field(
        default=1,
        ge=0,
        le=10**12,
        description="fewer spans in the window (tool calls for tool_error_rate) is no data: "
        "the rule keeps its state",
    )
    severity: Severity = "warning"

    @field_validator("baseline_windows")
    @classmethod
    def _history_bounded(cls, windows: int, info: ValidationInfo) -> int:
        baseline = info.data.get("condition") in ("above_baseline", "anomaly")
        if baseline and (windows + 1) * info.data.get("window_s", 0) > MAX_LOOKBACK_S:
            raise ValueError(
                f"(baseline_windows + 1) x window_s reads more than "
                f"{MAX_LOOKBACK_S // 86_400} days of history"
            )
        return windows

    @property
    def lookback_windows(self) -> int:
        """How many windows one evaluation reads: the current and the trailing ones."""
        return 1 + (self.baseline_windows if self.condition in ("above_baseline", "anomaly") else 0)


class BurnAlert(BaseModel):
    """Fire when the error budget burns at least `burn_rate` times the sustainable rate over
    both the long and the short window (the short one makes it reset soon after a fix)."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity
    long_s: int = Field(ge=60, le=MAX_LOOKBACK_S)
    short_s: int = Field(ge=10, le=MAX_LOOKBACK_S)
    burn_rate: float = Field(gt=0, le=1e6, allow_inf_nan=False)

    @field_validator("short_s")
    @classmethod
    def _short_within_long(cls, short_s: int, info: ValidationInfo) -> int:
        if short_s >= info.data.get("long_s", MAX_LOOKBACK_S + 1):
            raise ValueError("short_s must be shorter than long_s")
        return short_s


# The multiwindow, multi-burn-rate set of the Google SRE workbook for a 30-day objective: 2 %
# of the budget in an hour or 5 % in six hours pages; 10 % in three days opens a ticket.
DEFAULT_BURN_ALERTS = (
    BurnAlert(severity="critical", long_s=3600, short_s=300, burn_rate=14.4),
    BurnAlert(severity="critical", long_s=6 * 3600, short_s=1800, burn_rate=6),
    BurnAlert(severity="warning", long_s=86_400, short_s=2 * 3600, burn_rate=3),
    BurnAlert(severity="warning", long_s=3 * 86_400, short_s=6 * 3600, burn_rate=1),
)


class SloSpec(Routed):
    """A service-level objective over a rolling period, with its burn-rate alerts."""

    objective: Literal["availability", "latency"]
    target: float = Field(
        gt=0, lt=1, allow_inf_nan=False, description="fraction of good spans, e.g. 0.999"
    )
    threshold_ms: float | None = Field(
        default=None,
        validate_default=True,
        gt=0,
        le=86_400_000,
        allow_inf_nan=False,
        description="latency objective: a span is good when it took at most this long",
    )
    period_days: int = Field(default=30, ge=1, le=90)
    burn_alerts: list[BurnAlert] = Field(
        default_factory=lambda: list(DEFAULT_BURN_ALERTS), max_length=10
    )

    @field_validator("threshold_ms")
    @classmethod
    def _threshold_matches_objective(cls, threshold: float | None, info: ValidationInfo) -> Any:
        objective = info.data.get("objective")
        if objective == "latency" and threshold is None:
            raise ValueError("a latency objective needs threshold_ms")
        if objective == "availability" and threshold is not None:
            raise ValueError("only a latency objective has threshold_ms")
        return threshold


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one evaluation found: firing (with a severity), not firing, or no data (None)."""

    firing: bool | None
    value: float | None
    threshold: float | None
    message: str
    severity: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
