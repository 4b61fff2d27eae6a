"""The tool types shared by the registry, the executor and the MCP gateway (see the contract
in docs/tools.md): a tool's spec, its implementation, who calls it, and what a call returns."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from agentdeck.errors import AgentdeckError, InvalidRequestError
from agentdeck.identity.grants import Grant

Risk = Literal["low", "medium", "high"]
RISKS: tuple[Risk, ...] = ("low", "medium", "high")
NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CREDENTIAL = re.compile(r"\{\{credential:([A-Za-z0-9_.:/-]{1,100})\}\}")
ERROR_TYPES = (
    "invalid_arguments", "not_allowed", "approval_required", "denied", "timeout",
    "upstream_error", "invalid_result", "circuit_open", "not_found", "internal_error",
    "cancelled",
)  # fmt: skip


def check_tool_name(name: str) -> str:
    """`name` if it follows MCP's tool-name rules, else 400."""
    if not NAME.fullmatch(name):
        raise InvalidRequestError(
            "a tool name is 1-64 letters, digits, `_` or `-`", param="name", code="invalid_name"
        )
    return name


def arguments_hash(arguments: Any) -> str:
    """SHA-256 of the arguments as canonical JSON (sorted keys): what an approval binds to."""
    return hashlib.sha256(orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a transient failure is tried again."""

    attempts: int = 1  # total tries, >= 1
    backoff_s: float = 0.2  # first pause, doubled each retry (jittered)


@dataclass(frozen=True, slots=True)
class HttpImplementation:
    """An HTTP endpoint; `url` is a template filled from the arguments, header values may
    reference stored credentials as `{{credential:name}}`."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Literal["json", "none"] = "json"


@dataclass(frozen=True, slots=True)
class PythonImplementation:
    """A callable registered as an entry point of group `agentdeck.tools`."""

    entry_point: str


@dataclass(frozen=True, slots=True)
class McpImplementation:
    """A tool of an upstream MCP server."""

    server: str
    tool: str


Implementation = HttpImplementation | PythonImplementation | McpImplementation


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool: what it does, its schemas, how it runs and who may call it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    implementation: Implementation
    version: str = "1"
    owner: str | None = None
    risk: Risk = "low"
    timeout_s: float = 10.0
    retry: RetryPolicy = RetryPolicy()
    examples: tuple[dict[str, Any], ...] = ()
    tenant_id: str = ""
    project_id: str | None = None
    # Allowlists beyond RBAC: None admits every key / agent (RBAC still applies).
    allowed_keys: tuple[str, ...] | None = None
    allowed_agents: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ToolError:
    """Why a call failed, in words the model can act on."""

    type: str
    message: str
    retriable: bool


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A call's outcome: a result, or a structured error (never a silent null)."""

    ok: bool
    result: Any = None
    error: ToolError | None = None
    approval_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire shape: {"ok": true, "result"} or {"ok": false, "error", "approval_id"?}."""
        if self.ok:
            return {"ok": True, "result": self.result}
        assert self.error is not None
        error = self.error
        found: dict[str, Any] = {
            "ok": False,
            "error": {"type": error.type, "message": error.message, "retriable": error.retriable},
        }
        if self.approval_id is not None:
            found["approval_id"] = self.approval_id
        return found


def failure(kind: str, message: str, retriable: bool = False, **extra: Any) -> ToolResult:
    """A failed call's result."""
    return ToolResult(False, error=ToolError(kind, message, retriable), **extra)


class ToolLookup(Protocol):
    """Where the executor finds a tenant's tool by name: the store, or `ToolSpecs` over it."""

    async def get(self, tenant_id: str, name: str) -> ToolSpec | None:
        """The tenant's tool called `name`, or None."""


@dataclass(frozen=True, slots=True)
class ToolCaller:
    """Who calls: the key's grant, the agent, and the run or request that asks."""

    grant: Grant
    agent: str | None = None
    run_id: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    parent_span_id: str | None = None


class ToolCallFailed(AgentdeckError):  # noqa: N818 - an outcome, not a fault of ours
    """One attempt at a tool failed; `kind` is its ToolError type, `upstream` whether the
    upstream is at fault (counted by the tool's breaker). Never reaches a client as such: the
    executor turns it into a structured result."""

    def __init__(self, kind: str, message: str, retriable: bool, upstream: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.retriable = retriable
        self.upstream = upstream
