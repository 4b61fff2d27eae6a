"""The one typed settings tree: environment `AGENTDECK_*` over an optional YAML file over defaults.

Nothing else in agentdeck reads the process environment: provider credentials, which config
names only by environment variable, are read here too (`read_credential`).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
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
from agentdeck.settings_alerts import AlertSettings
from agentdeck.settings_gateway import (
    MICROS_PER_USD,
    BreakerSettings,
    CacheSettings,
    DeploymentSettings,
    FakeModelSettings,
    FakeToolCall,
    FallbackSettings,
    GatewaySettings,
    ModelAliasSettings,
    PriceSettings,
    RetrySettings,
    RoutingRule,
    RuleCondition,
    SplitSettings,
    Strategy,
)
from agentdeck.settings_guardrails import GuardrailSettings
from agentdeck.settings_identity import BootstrapSettings, IdentitySettings, LimitsSettings
from agentdeck.settings_mcp import McpSettings
from agentdeck.settings_tools import ToolSettings
from agentdeck.settings_tracing import TracingSettings

__all__ = [
    "MICROS_PER_USD",
    "BootstrapSettings",
    "BreakerSettings",
    "CacheSettings",
    "ConfigFileError",
    "DeploymentSettings",
    "FakeModelSettings",
    "FakeToolCall",
    "FallbackSettings",
    "GatewaySettings",
    "IdentitySettings",
    "LimitsSettings",
    "ModelAliasSettings",
    "PriceSettings",
    "RetrySettings",
    "RoutingRule",
    "RuleCondition",
    "Settings",
    "SplitSettings",
    "Strategy",
    "TracingSettings",
    "load_settings",
    "read_credential",
]

DEFAULT_CONFIG_FILE = "agentdeck.yaml"
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
    max_connections: int = Field(default=64, ge=1, description="Redis connections per process")

    @field_validator("url")
    @classmethod
    def _redis_only(cls, url: str | None) -> str | None:
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("kv url must start with redis://, rediss:// or unix://")
        return url or None


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
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
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
