"""Settings of alerts and SLOs: how often this replica looks for due rules and deliveries, and
how webhook deliveries are retried. Part of the one settings tree that
`agentdeck.settings.Settings` assembles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AlertSettings(BaseModel):
    """The alert evaluator and the webhook deliverer of this replica."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="evaluate due rules and SLOs and deliver webhooks on this replica (any "
        "number of replicas may: each rule and delivery is claimed by one)",
    )
    tick_s: float = Field(
        default=5, gt=0, le=3600, description="how often due rules and deliveries are looked for"
    )
    batch: int = Field(default=50, ge=1, le=10_000, description="rules or deliveries per claim")
    delivery_timeout_s: float = Field(
        default=10, gt=0, le=300, description="time a webhook receiver has to answer"
    )
    max_attempts: int = Field(
        default=8, ge=1, le=100, description="attempts before a delivery is marked failed"
    )
    retry_backoff_s: list[float] = Field(
        default_factory=lambda: [10.0, 30.0, 120.0, 600.0, 1800.0, 3600.0],
        min_length=1,
        description="pause before the 2nd, 3rd, ... attempt (the last repeats); a receiver's "
        "Retry-After is honoured up to the largest",
    )
    concurrency: int = Field(default=8, ge=1, le=256, description="deliveries sent at once")
    allow_private_urls: bool = Field(
        default=False,
        description="deliver to webhook URLs whose host is a loopback, private, link-local or "
        "other reserved address; off, such deliveries fail (tenants cannot probe the "
        "server's own network)",
    )

    @field_validator("retry_backoff_s")
    @classmethod
    def _positive(cls, pauses: list[float]) -> list[float]:
        if any(not 0 < pause <= 86_400 for pause in pauses):
            raise ValueError("every retry pause must be between 0 and 86400 seconds")
        return pauses
