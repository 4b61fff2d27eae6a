"""The one typed settings tree: environment `AGENTDECK_*` over an optional YAML file over defaults.

Nothing else in agentdeck reads the process environment: provider credentials, which config
names only by environment variable, are read here too (`read_credential`).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from agentdeck.config_file import ConfigFileError, read_config_file, validation_problems

__all__ = ["ConfigFileError", "Settings", "load_settings", "read_credential"]

DEFAULT_CONFIG_FILE = "agentdeck.yaml"
MICROS_PER_USD = 1_000_000
# The parsed config file for the Settings() call under way; read by _FileSource.
_FILE_DATA: ContextVar[dict[str, Any]] = ContextVar("agentdeck_file_data")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """HTTP server: where it listens and how it treats requests and shutdown."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    drain_timeout_s: float = Field(default=30.0, gt=0)
    access_log: bool = False
    admin_token_env: str | None = Field(
        default=None, description="NAME of the env variable holding the admin API bearer token"
    )


class DatabaseSettings(_Section):
    """SQL store: SQLite by default, PostgreSQL for scale-out."""

    url: str = "sqlite+aiosqlite:///./agentdeck.db"
    schema_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="PostgreSQL schema"
    )
    migrate_on_start: bool = True
    connect_attempts: int = Field(default=5, ge=1)
    pool_size: int = Field(default=5, ge=1)

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, url: str) -> str:
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database url must be sqlite+aiosqlite://... or postgresql://...")
        return url


class KVSettings(_Section):
    """Shared state: in-process by default, Redis when `url` is set."""

    url: str | None = None
    cache_max_entries: int = Field(default=10_000, ge=1)

    @field_validator("url")
    @classmethod
    def _redis_only(cls, url: str | None) -> str | None:
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("kv url must start with redis://, rediss:// or unix://")
        return url or None


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
        default=None, gt=0, description="until the first stream event or the answer's headers"
    )
    weight: int = Field(default=1, ge=0, description="share of traffic under `weighted`")
    headers: dict[str, str] = Field(default_factory=dict)
    api_version: str | None = Field(default=None, description="azure: the api-version query")
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

    @property
    def input_micros_per_mtok(self) -> int:
        """Input price as integer micro-dollars per million tokens (0 when unknown)."""
        return int((self.input_price or 0) * MICROS_PER_USD)

    @property
    def output_micros_per_mtok(self) -> int:
        """Output price as integer micro-dollars per million tokens (0 when unknown)."""
        return int((self.output_price or 0) * MICROS_PER_USD)

    @property
    def cached_input_micros_per_mtok(self) -> int:
        """Cache-read price per million tokens; the input price when none is set."""
        price = self.input_price if self.cached_input_price is None else self.cached_input_price
        return int((price or 0) * MICROS_PER_USD)

    @property
    def cache_write_micros_per_mtok(self) -> int:
        """Cache-write price per million tokens; the input price when none is set."""
        price = self.input_price if self.cache_write_price is None else self.cache_write_price
        return int((price or 0) * MICROS_PER_USD)


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


class Settings(BaseSettings):
    """The whole configuration of one agentdeck process."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTDECK_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kv: KVSettings = Field(default_factory=KVSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    models: dict[str, ModelAliasSettings] = Field(default_factory=dict)
    fake_models: dict[str, FakeModelSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _aliases_are_served(self) -> Settings:
        known = (
            set(self.models)
            | set(self.fake_models)
            | ({"fake"} if self.gateway.builtin_fake else set())
        )
        for alias, spec in self.models.items():
            if not spec.deployments and not (spec.rules and spec.default):
                raise ValueError(
                    f"models.{alias}: needs deployments, or rules with a default alias"
                )
            targets = [rule.route_to for rule in spec.rules] + (
                [spec.default] if spec.default else []
            )
            for target in targets:
                if target not in known:
                    raise ValueError(f"models.{alias}: rules route to unknown alias {target!r}")
                routed = self.models.get(target)
                if routed is not None and routed.rules:
                    raise ValueError(
                        f"models.{alias}: rules route to {target!r}, which has rules too"
                    )
        return self

    @model_validator(mode="after")
    def _fallbacks_exist(self) -> Settings:
        known = set(self.models) | set(self.fake_models)
        if self.gateway.builtin_fake:
            known.add("fake")
        for alias, spec in self.models.items():
            for kind, targets in spec.fallbacks:
                for target in targets:
                    if target not in known:
                        raise ValueError(
                            f"models.{alias}.fallbacks.{kind}: unknown model alias {target!r}"
                        )
        return self

    @model_validator(mode="after")
    def _unique_deployment_ids(self) -> Settings:
        seen: set[str] = set()
        for alias, spec in self.models.items():
            named: list[tuple[int | str, DeploymentSettings]] = list(enumerate(spec.deployments))
            named += [(kind, split.deployment) for kind, split in
                      (("canary", spec.canary), ("shadow", spec.shadow)) if split]  # fmt: skip
            for index, deployment in named:
                if deployment.id is None:
                    deployment.id = f"{alias}/{index}"
                if deployment.id in seen:
                    raise ValueError(f"deployment id {deployment.id!r} is used twice")
                seen.add(deployment.id)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values beat the environment, which beats the YAML file, which beats defaults."""
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    """The YAML config file as a settings source, below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _FILE_DATA.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get({}))


def config_file_from_env() -> Path | None:
    """The config file named by AGENTDECK_CONFIG, or ./agentdeck.yaml when it exists."""
    named = os.environ.get("AGENTDECK_CONFIG")
    if named:
        return Path(named)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the YAML file, the environment, then `overrides`."""
    path = config_file if config_file is not None else config_file_from_env()
    data: dict[str, Any] = {}
    document = None
    if path is not None:
        document = read_config_file(path)
        data = document.data
    token = _FILE_DATA.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigFileError(str(path or "settings"), validation_problems(exc, document)) from exc
    finally:
        _FILE_DATA.reset(token)


def read_credential(env_name: str) -> str | None:
    """The value of the environment variable a deployment names as its credential."""
    return os.environ.get(env_name) or None
