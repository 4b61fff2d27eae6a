"""Settings of identity and limits: whether keys are required, the credential store's master
key, the first tenant for `agentdeck init`, and how spend and audit records are queued. Part of
the one settings tree that `agentdeck.settings.Settings` assembles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BootstrapSettings(_Section):
    """What `agentdeck init` creates: the first tenant, project and owner, and the owner's key."""

    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    project: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    owner: str = Field(default="owner", min_length=1)
    owner_email: str | None = None
    owner_key_env: str | None = Field(
        default=None,
        description="NAME of an env variable holding a pre-generated owner key to install "
        "(deployments keep it in their secret store); none: init generates and prints one",
    )


class IdentitySettings(_Section):
    """Keys, roles and the audit log. Off (`enabled: false`) is development mode: requests
    without an agentdeck key act as the owner of the `default` tenant."""

    enabled: bool = Field(default=False, description="require an agentdeck key on every request")
    key_env: str = Field(default="live", pattern=r"^[a-z]{1,8}$", description="env tag of new keys")
    revocation_poll_s: float = Field(
        default=1.0, gt=0, le=4, description="how often replicas check for identity changes"
    )
    master_key_env: str | None = Field(
        default=None,
        description="NAME of an env variable with base64 32-byte master keys, comma separated, "
        "the current first",
    )
    platform_tenant: str = Field(
        default="default", description="slug of the tenant whose owners may create tenants"
    )
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    bootstrap_on_start: bool = Field(
        default=False, description="run `agentdeck init` at start-up when no tenant exists"
    )


class LimitsSettings(_Section):
    """Reservations and the spend ledger."""

    default_max_output_tokens: int = Field(
        default=4096, ge=1, description="worst case reserved when a request sets no max_tokens"
    )
    spend_queue_max: int = Field(default=10_000, ge=1)
    spend_flush_interval_s: float = Field(default=0.5, gt=0)
    reservation_hold_s: int = Field(
        default=1800,
        ge=1,
        description="a budget reservation is counted for at least this long (and at most "
        "twice it): longer than the longest call; what a crashed process reserved frees itself "
        "after twice it",
    )
    audit_queue_max: int = Field(default=10_000, ge=1)
