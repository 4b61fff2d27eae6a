"""Settings of tools: approvals, circuit breakers and upstream answers. Part of the one settings
tree that `agentdeck.settings.Settings` assembles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ToolSettings(BaseModel):
    """The tool executor and approvals."""

    model_config = ConfigDict(extra="forbid")

    approval_ttl_s: float = Field(
        default=3600, gt=0, le=7 * 86_400, description="how long an approval request stays valid"
    )
    breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="consecutive failures that open a tool's breaker"
    )
    breaker_open_s: float = Field(
        default=30, gt=0, le=3600, description="how long an open breaker refuses calls"
    )
    max_response_bytes: int = Field(
        default=1_000_000, ge=1024, le=100_000_000, description="largest HTTP tool answer read"
    )
    python_threads: int = Field(
        default=16, ge=1, le=1024, description="threads that run synchronous Python tools"
    )
