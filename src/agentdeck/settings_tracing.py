"""Settings of tracing: whether gateway calls become spans, how the recorder queues and writes
them, and how user ids are kept. Part of the one settings tree that
`agentdeck.settings.Settings` assembles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentdeck.tracing.redaction import KINDS as REDACTION_KINDS


class ContentSettings(BaseModel):
    """Whether span content (prompts, completions, tool arguments and results) is stored."""

    model_config = ConfigDict(extra="forbid")

    capture: bool = Field(
        default=False,
        description="store content for projects not listed in `projects`; when false it is "
        "removed from received spans before storage",
    )
    projects: dict[str, bool] = Field(
        default_factory=dict, description="project id -> capture content or not"
    )
    redact: list[str] = Field(
        default_factory=lambda: list(REDACTION_KINDS),
        description="what is replaced by typed placeholders in captured content before "
        f"storage: any of {', '.join(REDACTION_KINDS)}; [] keeps content as sent",
    )

    @field_validator("redact")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(REDACTION_KINDS))
        if unknown:
            raise ValueError(
                f"unknown redaction kinds {unknown}; known: {', '.join(REDACTION_KINDS)}"
            )
        return kinds


class RetentionSettings(BaseModel):
    """How long spans are kept, per project; a periodic job deletes older ones."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=30, ge=0, description="days spans are kept; 0 keeps them forever")
    projects: dict[str, int] = Field(
        default_factory=dict, description="project id -> days (0: forever), over `days`"
    )
    interval_s: float = Field(default=3600, gt=0, description="how often the job runs")
    batch: int = Field(default=5000, ge=1, description="spans deleted per statement")

    @field_validator("projects")
    @classmethod
    def _non_negative(cls, projects: dict[str, int]) -> dict[str, int]:
        negative = sorted(name for name, days in projects.items() if days < 0)
        if negative:
            raise ValueError(f"retention days must be >= 0 (projects {negative})")
        return projects


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
    max_ingest_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="largest OTLP request body after gzip is undone (413 beyond)",
    )
    content: ContentSettings = Field(default_factory=ContentSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    raw_user_id_projects: list[str] = Field(
        default_factory=list,
        description="project ids whose spans keep end-user ids as sent; elsewhere they are "
        "replaced by a hash (SHA-256 of tenant and id)",
    )
