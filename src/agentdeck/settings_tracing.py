"""Settings of tracing: whether gateway calls become spans, how the recorder queues and writes
them, how user ids and content are kept, and where stored spans are exported. Part of the one
settings tree that `agentdeck.settings.Settings` assembles."""

from __future__ import annotations

import re
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The kinds of personal data and secrets `tracing.content.redact` may name: those of the
# guardrails' PII detector (`guardrails.pii.PII_KINDS`, kept equal by a test; settings sit
# below guardrails and do not import them).
REDACTION_KINDS = ("SECRET", "EMAIL", "IBAN", "CARD", "SSN", "PHONE", "IP", "HIGH_ENTROPY")


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


# An HTTP header name (RFC 9110 token) and an environment variable name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Headers the exporter sets itself.
_OWN_HEADERS = frozenset({"content-type", "content-encoding", "content-length", "host"})


class ExportSettings(BaseModel):
    """Forwarding stored spans to an external collector over OTLP/HTTP (protobuf)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="forward every stored span")
    exporter: str = Field(
        default="otlp",
        min_length=1,
        description="the span exporter: `otlp`, or the name of one registered in the "
        "`agentdeck.span_exporters` entry-point group",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="settings of a third-party exporter, as it defines them"
    )
    endpoint: str | None = Field(
        default=None,
        description="the collector's OTLP/HTTP traces URL (`http://collector:4318/v1/traces`); "
        "a URL without a path gets `/v1/traces`",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="headers sent with every export (not secrets)"
    )
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="header -> NAME of the environment variable holding its value (API keys)",
    )
    compression: Literal["gzip", "none"] = Field(default="gzip", description="request body")
    timeout_s: float = Field(default=10.0, gt=0, description="bound on one export request")
    batch: int = Field(default=512, ge=1, description="spans per export request")
    queue_max: int = Field(
        default=20_000, ge=1, description="spans waiting to be exported; beyond it dropped"
    )
    flush_interval_s: float = Field(
        default=1.0, gt=0, description="how long the exporter gathers a batch"
    )
    max_attempts: int = Field(
        default=5, ge=1, le=100, description="tries per batch when the collector is away"
    )
    shutdown_timeout_s: float = Field(
        default=10.0, ge=0, description="how long a stop may spend exporting what is queued"
    )
    include_content: bool = Field(
        default=False, description="export captured content (prompts, completions)"
    )
    projects: list[str] = Field(
        default_factory=list, description="project ids whose spans are exported; [] for all"
    )

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        parts = urlsplit(endpoint.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"endpoint must be an http(s) URL such as http://collector:4318/v1/traces, "
                f"not {endpoint!r}"
            )
        return endpoint.strip()

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            _check_header_name(name)
            if any(char in value for char in "\r\n\x00"):
                raise ValueError(f"header {name!r}: the value holds a line break or NUL")
        return headers

    @field_validator("headers_env")
    @classmethod
    def _valid_header_variables(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, variable in headers.items():
            _check_header_name(name)
            if not _ENV_NAME.fullmatch(variable):
                raise ValueError(
                    f"header {name!r}: {variable!r} is not an environment variable name"
                )
        return headers

    @model_validator(mode="after")
    def _endpoint_when_enabled(self) -> Self:
        if self.enabled and self.exporter == "otlp" and self.endpoint is None:
            raise ValueError("endpoint is required when the otlp exporter is enabled")
        both = sorted({n.lower() for n in self.headers} & {n.lower() for n in self.headers_env})
        if both:
            raise ValueError(f"headers {both} are set in both headers and headers_env")
        return self


def _check_header_name(name: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not an HTTP header name")
    if name.lower() in _OWN_HEADERS:
        raise ValueError(f"header {name!r} is set by the exporter itself")


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
    export: ExportSettings = Field(default_factory=ExportSettings)
    raw_user_id_projects: list[str] = Field(
        default_factory=list,
        description="project ids whose spans keep end-user ids as sent; elsewhere they are "
        "replaced by a hash (SHA-256 of tenant and id)",
    )
