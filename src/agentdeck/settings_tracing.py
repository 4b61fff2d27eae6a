"""Settings of tracing: whether gateway calls become spans, how the recorder queues and writes
them, and how user ids are kept. Part of the one settings tree that
`agentdeck.settings.Settings` assembles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TracingSettings(BaseModel):
    """The span recorder and what a gateway span holds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="record a span for every gateway call that passed authentication",
    )
    queue_max: int = Field(
        default=50_000, ge=1, description="spans waiting to be written; beyond it they are dropped"
    )
    batch: int = Field(default=1000, ge=1, description="spans per write")
    flush_interval_s: float = Field(
        default=0.2, gt=0, description="how long the recorder gathers a batch"
    )
    raw_user_id_projects: list[str] = Field(
        default_factory=list,
        description="project ids whose spans keep end-user ids as sent; elsewhere they are "
        "replaced by a hash (SHA-256 of tenant and id)",
    )
