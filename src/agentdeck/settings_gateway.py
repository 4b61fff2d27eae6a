"""Settings of the gateway: models, their deployments, routing, resilience, cache, prices, and
the fake models. Part of the one settings tree that `agentdeck.settings.Settings` assembles."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MICROS_PER_USD = 1_000_000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakeToolCall(_Section):
    """A tool call the fake model makes instead of answering with text."""

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class FakeModelSettings(_Section):
    """Deterministic behaviour of one fake model; by default it echoes the last user message."""

    reply: str | None = None
    replies: list[str] = Field(default_factory=list)
    tool_calls: list[FakeToolCall] = Field(default_factory=list)
    chunks: int | None = Field(default=None, ge=1)
    latency_ms: int = Field(default=0, ge=0)
    chunk_delay_ms: int = Field(default=0, ge=0)
    fail_status: int | None = Field(default=None, ge=400, le=599)
    fail_message: str = "injected failure"
    fail_times: int | None = Field(default=None, ge=1)
    retry_after_s: int | None = Field(default=None, ge=0)
    timeout: bool = False
    reset_after_chunks: int | None = Field(default=None, ge=0)
    embedding_dimensions: int = Field(default=64, ge=1, le=8192)
    context_window: int | None = Field(
        default=None, ge=1, description="refuse prompts longer than this (400, context length)"
    )


class DeploymentSettings(_Section):
    """One upstream model behind an alias: provider, model, endpoint, credential and price."""

    id: str | None = None
    provider: str = "openai"
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    credential: str | None = Field(
        default=None, description="name of a stored credential of the platform tenant"
    )
    input_price: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M input tokens; none: the price table's"
    )
    output_price: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M output tokens; none: the price table's"
    )
    cached_input_price: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M input tokens read from the prompt cache"
    )
    cache_write_price: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M input tokens written to the prompt cache"
    )
    timeout_s: float = Field(default=120.0, gt=0, description="whole answer, per attempt")
    connect_timeout_s: float = Field(default=10.0, gt=0)
    first_token_timeout_s: float | None = Field(
        default=None, gt=0, description="streams: the longest wait for the first event"
    )
    weight: int = Field(default=1, ge=0, description="share of traffic under `weighted`")
    headers: dict[str, str] = Field(default_factory=dict)
    api_version: str | None = Field(default=None, description="azure: the api-version query")
    region: str | None = Field(default=None, description="bedrock: the AWS region")
    aws_access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    aws_secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
    aws_session_token_env: str = "AWS_SESSION_TOKEN"  # noqa: S105 - a variable name
    stream_usage: bool = Field(
        default=True, description="ask the upstream for a usage chunk on every stream"
    )

    @field_validator("input_price", "output_price", "cached_input_price", "cache_write_price")
    @classmethod
    def _whole_micros(cls, price: Decimal | None) -> Decimal | None:
        if price is not None and (price * MICROS_PER_USD) % 1 != 0:
            raise ValueError("price must have at most 6 decimal places (a micro-dollar per 1M)")
        return price

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError("api_key_env is the NAME of an environment variable, not a key")
        return name

    # Rounded, not truncated: 2.01 * 1e6 is 2009999.9999999998 in binary floating point.
    @property
    def input_micros_per_mtok(self) -> int:
        """Input price as integer micro-dollars per million tokens (0 when unknown)."""
        return round((self.input_price or 0) * MICROS_PER_USD)

    @property
    def output_micros_per_mtok(self) -> int:
        """Output price as integer micro-dollars per million tokens (0 when unknown)."""
        return round((self.output_price or 0) * MICROS_PER_USD)

    @property
    def cached_input_micros_per_mtok(self) -> int:
        """Cache-read price per million tokens; the input price when none is set."""
        price = self.input_price if self.cached_input_price is None else self.cached_input_price
        return round((price or 0) * MICROS_PER_USD)

    @property
    def cache_write_micros_per_mtok(self) -> int:
        """Cache-write price per million tokens; the input price when none is set."""
        price = self.input_price if self.cache_write_price is None else self.cache_write_price
        return round((price or 0) * MICROS_PER_USD)


class RetrySettings(_Section):
    """Retries of retriable failures (429, 5xx, connection errors, timeouts)."""

    attempts: int = Field(default=2, ge=1, le=10, description="tries per deployment chain")
    backoff_ms: int = Field(default=200, ge=0)
    max_backoff_ms: int = Field(default=5000, ge=0)


class FallbackSettings(_Section):
    """Aliases to try, in order, when this one fails, by kind of failure."""

    any: list[str] = Field(default_factory=list, description="for any fallback-able failure")
    rate_limited: list[str] = Field(default_factory=list)
    context_window_exceeded: list[str] = Field(default_factory=list)
    content_filtered: list[str] = Field(default_factory=list)
    upstream_down: list[str] = Field(default_factory=list)


Strategy = Literal["priority", "weighted", "latency", "cost", "least_busy"]


class SplitSettings(_Section):
    """A deployment that gets a share of an alias's traffic (canary) or a copy of it (shadow)."""

    deployment: DeploymentSettings
    percent: float = Field(gt=0, le=100)


class RuleCondition(_Section):
    """What a request must look like for a rule to apply; every condition given must hold."""

    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    tag: str | None = Field(default=None, description="in metadata.tags or x-agentdeck-tags")
    has_tools: bool | None = None
    has_images: bool | None = None
    pattern: str | None = Field(default=None, description="regex over the last user message")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern


class RoutingRule(_Section):
    """Send requests that match `when` to the alias `route_to`."""

    name: str = Field(min_length=1)
    when: RuleCondition
    route_to: str = Field(min_length=1)


class ModelAliasSettings(_Section):
    """A model name clients use: deployments to serve it, or rules that pick another alias."""

    deployments: list[DeploymentSettings] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list)
    default: str | None = Field(default=None, description="with rules: when none matches")
    description: str = ""
    strategy: Strategy = "priority"
    retries: RetrySettings = Field(default_factory=RetrySettings)
    fallbacks: FallbackSettings = Field(default_factory=FallbackSettings)
    deadline_s: float | None = Field(
        default=None, gt=0, description="one bound over all attempts and fallbacks"
    )
    disabled: bool = False
    canary: SplitSettings | None = Field(
        default=None, description="send this share of the traffic to another deployment"
    )
    shadow: SplitSettings | None = Field(
        default=None, description="mirror this share to a deployment; its answers are not returned"
    )
    cache: bool | None = Field(default=None, description="cache answers; none: gateway.cache")
    cache_ttl_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _served(self) -> ModelAliasSettings:
        if not self.deployments and not (self.rules and self.default):
            raise ValueError("needs deployments, or rules with a default alias")
        return self


class CacheSettings(_Section):
    """The exact-match response cache (on kv: shared by replicas when Redis is configured)."""

    enabled: bool = Field(default=False, description="cache every alias unless it says no")
    ttl_s: float = Field(default=300.0, gt=0)
    max_entry_bytes: int = Field(default=1024 * 1024, ge=1)


class BreakerSettings(_Section):
    """Circuit breaker per deployment."""

    consecutive_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    window_s: float = Field(default=30.0, gt=0)
    min_calls: int = Field(default=20, ge=1)
    open_s: float = Field(default=30.0, gt=0, description="how long it stays open before a probe")


class PriceSettings(_Section):
    """A price-table entry: USD per million tokens."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0)
    cache_write: Decimal | None = Field(default=None, ge=0)


class GatewaySettings(_Section):
    """Gateway behaviour that is not per model."""

    builtin_fake: bool = True
    upstream_connections: int = Field(default=256, ge=1)
    deadline_s: float = Field(default=300.0, gt=0, description="default per-request deadline")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    prices: dict[str, PriceSettings] = Field(
        default_factory=dict, description="adds to or overrides the shipped price table"
    )
