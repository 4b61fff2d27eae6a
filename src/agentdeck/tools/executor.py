"""`ToolExecutor`: the only way anything runs a tool.

Each call: allowlist (RBAC `tools:execute` on the tool, the tool's key and agent lists, its
project) -> arguments against the input schema -> approval for high-risk tools -> the breaker
-> the call (credentials injected, one deadline of `timeout_s` over all attempts, retries with
jittered backoff for transient failures only) -> the result against the output schema -> an
`execute_tool {name}` span and an audit event. The allowlist comes before validation so that
a caller learns nothing about a tool it may not use (not even its schema, from a validation
message). Tool problems never raise: they come back as `ToolResult(ok=False, error=...)`.

Every call is counted and audited, executed, refused or cancelled: action `tool.call.<outcome>`
(`ok`, or the error type: `tool.call.not_allowed`, `tool.call.timeout`, ...) on resource
`tool/<name>`, with the arguments' hash, the agent, run and approval in the event's `after`.
The event goes through the audit queue (appended in the background, like refused requests),
so auditing adds no store write to the call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from jsonschema import Draft202012Validator

from agentdeck.identity.audit_log import AuditEvent, AuditQueue
from agentdeck.identity.vault import Vault
from agentdeck.settings_tools import ToolSettings
from agentdeck.tools.approvals import Approvals, Binding
from agentdeck.tools.breaker import ToolBreakers
from agentdeck.tools.http_tool import HttpTools
from agentdeck.tools.mcp_backend import McpBackend, McpToolFailed
from agentdeck.tools.models import (
    HttpImplementation,
    PythonImplementation,
    ToolCaller,
    ToolCallFailed,
    ToolLookup,
    ToolResult,
    ToolSpec,
    arguments_hash,
    failure,
)
from agentdeck.tools.python_tool import PythonTools
from agentdeck.tools.spans import ToolSpans
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)
_VALIDATORS_MAX = 4096


class ToolExecutor:
    """Runs tools for callers; one per app."""

    def __init__(
        self,
        settings: ToolSettings,
        specs: ToolLookup | None = None,
        approvals: Approvals | None = None,
        vault: Vault | None = None,
        spans: ToolSpans | None = None,
        audit: AuditQueue | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        # The app passes `ToolSpecs`, so a call reads no SQL once its tool is warm.
        self._specs = specs
        self._approvals = approvals
        self._spans = spans
        self._audit = audit
        self.metrics = metrics
        self._calls = metrics.tool_calls if metrics is not None else None
        self.breakers = ToolBreakers(settings.breaker_failures, settings.breaker_open_s)
        self.http = HttpTools(vault, settings.max_response_bytes)
        self.python = PythonTools(settings.python_threads)
        self._mcp: McpBackend | None = None
        # Compiled schemas by spec object: specs are immutable, so one compile per spec.
        self._validators: dict[int, tuple[ToolSpec, Any, Any]] = {}

    def set_mcp_backend(self, backend: McpBackend) -> None:
        """Run `mcp` tools through `backend` (the app calls this once mcp is built)."""
        self._mcp = backend

    def allowed(self, spec: ToolSpec, caller: ToolCaller) -> bool:
        """Whether `caller` may call `spec` at all (the allowlist check alone)."""
        grant = caller.grant
        if spec.tenant_id and spec.tenant_id != grant.tenant_id:
            return False
        if spec.project_id is not None and spec.project_id != grant.project_id:
            return False
        if not grant.access.allows("tools:execute", "tools", spec.name):
            return False
        if spec.allowed_keys is not None and grant.key_id not in spec.allowed_keys:
            return False
        agents = spec.allowed_agents
        return agents is None or (caller.agent is not None and caller.agent in agents)

    async def call(
        self, name: str, arguments: Any, caller: ToolCaller, approval_id: str | None = None
    ) -> ToolResult:
        """Look the caller's tenant's tool `name` up, then `execute` it."""
        spec = await self._specs.get(caller.grant.tenant_id, name) if self._specs else None
        if spec is None:
            return self.missing(name, arguments, caller, f"there is no tool {name!r}")
        return await self.execute(spec, arguments, caller, approval_id)

    def missing(self, name: str, arguments: Any, caller: ToolCaller, message: str) -> ToolResult:
        """The `not_found` result of a call of a tool that does not exist, recorded like every
        other call (span, count, audit)."""
        result = failure("not_found", message)
        if self._spans is not None:
            self._spans.record_missing(name, arguments, caller, result, time.time_ns())
        self._audited(name, arguments, caller, result, None)
        return result

    async def execute(
        self, spec: ToolSpec, arguments: Any, caller: ToolCaller, approval_id: str | None = None
    ) -> ToolResult:
        """Run `spec` for `caller`; a structured result, whatever happens."""
        started = time.time_ns()
        try:
            result = await self._run(spec, arguments, caller, approval_id)
        except asyncio.CancelledError:
            # The caller went away or the server is stopping: the call is recorded as cancelled
            # (a thread or an upstream may still finish it), then the cancellation goes on.
            cancelled = failure("cancelled", "the call was cancelled before it finished", True)
            self._record(spec, arguments, caller, cancelled, started, approval_id)
            raise
        except Exception:
            log.exception("tool %s failed inside the executor", spec.name)
            result = failure("internal_error", "the tool executor failed; see the server log")
        self._record(spec, arguments, caller, result, started, approval_id)
        return result

    def _record(
        self,
        spec: ToolSpec,
        arguments: Any,
        caller: ToolCaller,
        result: ToolResult,
        started: int,
        approval_id: str | None,
    ) -> None:
        """The call's span, count and audit event."""
        if self._spans is not None:
            self._spans.record(spec, arguments, caller, result, started, approval_id)
        self._audited(spec.name, arguments, caller, result, approval_id)

    def _audited(
        self,
        name: str,
        arguments: Any,
        caller: ToolCaller,
        result: ToolResult,
        approval: str | None,
    ) -> None:
        """Count the call's outcome and queue its audit event (see the module's docstring)."""
        outcome = "ok" if result.error is None else result.error.type
        if self._calls is not None:
            self._calls.labels(outcome).inc()
        if self._audit is None:
            return
        try:
            digest: str | None = arguments_hash(arguments)
        except TypeError:  # not JSON (only possible from Python callers)
            digest = None
        after = {
            "args_hash": digest,
            "agent": caller.agent,
            "run_id": caller.run_id,
            "approval_id": result.approval_id or approval,
        }
        grant = caller.grant
        self._audit.add(
            AuditEvent(
                grant.tenant_id, grant.actor, f"tool.call.{outcome}", f"tool/{name}",
                after=after, request_id=caller.request_id,
            )
        )  # fmt: skip

    def _compiled(self, spec: ToolSpec) -> tuple[Any, Any]:
        cached = self._validators.get(id(spec))
        if cached is None or cached[0] is not spec:
            if len(self._validators) >= _VALIDATORS_MAX:
                self._validators.clear()
            out = spec.output_schema
            cached = (
                spec,
                Draft202012Validator(spec.input_schema),
                Draft202012Validator(out) if out is not None else None,
            )
            self._validators[id(spec)] = cached
        return cached[1], cached[2]

    async def _run(
        self, spec: ToolSpec, arguments: Any, caller: ToolCaller, approval_id: str | None
    ) -> ToolResult:
        if not self.allowed(spec, caller):
            return failure("not_allowed", f"this caller may not use tool {spec.name!r}")
        inputs, outputs = self._compiled(spec)
        if not isinstance(arguments, dict):
            return failure("invalid_arguments", "the arguments must be a JSON object")
        problem = next(iter(inputs.iter_errors(arguments)), None)
        if problem is not None:
            where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
            return failure("invalid_arguments", f"arguments at {where}: {problem.message}")
        if spec.risk == "high":
            gate = await self._approval(spec, arguments, caller, approval_id)
            if gate is not None:
                return gate
        key = (spec.tenant_id, spec.name)
        if not self.breakers.allow(key):
            return failure("circuit_open", f"tool {spec.name!r} is failing; try later", True)
        try:
            result = await self._attempts(spec, arguments)
        except ToolCallFailed as exc:
            if exc.upstream:
                self.breakers.record(key, ok=False)
            else:
                self.breakers.release(key)
            return failure(exc.kind, exc.message, exc.retriable)
        self.breakers.record(key, ok=True)
        if outputs is not None:
            wrong = next(iter(outputs.iter_errors(result)), None)
            if wrong is not None:
                where = "/".join(str(p) for p in wrong.absolute_path) or "(root)"
                return failure("invalid_result", f"the tool's result at {where}: {wrong.message}")
        return ToolResult(True, result)

    async def _approval(
        self, spec: ToolSpec, arguments: dict[str, Any], caller: ToolCaller, approval_id: str | None
    ) -> ToolResult | None:
        """None when an approval for exactly this call was taken; else the result to return."""
        if self._approvals is None:
            return failure("not_allowed", f"tool {spec.name!r} needs approvals, which are off")
        binding = Binding.of(spec, caller, arguments_hash(arguments))
        if approval_id is not None:
            verdict = await self._approvals.use(approval_id, binding)
            if verdict == "used":
                return None
            if verdict == "denied":
                return failure("denied", f"a person denied this call of {spec.name!r}")
            if verdict == "pending":
                return failure(
                    "approval_required", f"approval {approval_id} is still waiting for a person",
                    True, approval_id=approval_id,
                )  # fmt: skip
        new = await self._approvals.request(binding, arguments, caller.grant.actor)
        return failure(
            "approval_required",
            f"tool {spec.name!r} is high-risk: a person must approve approval {new}; then "
            "repeat the same call with that approval_id",
            True,
            approval_id=new,
        )

    async def _attempts(self, spec: ToolSpec, arguments: dict[str, Any]) -> Any:
        """The call, tried again after transient failures, all within `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + spec.timeout_s
        attempts = max(1, spec.retry.attempts)
        try:
            async with asyncio.timeout(spec.timeout_s):
                for attempt in range(attempts):
                    try:
                        return await self._invoke(spec, arguments, deadline - loop.time())
                    except ToolCallFailed as exc:
                        pause = spec.retry.backoff_s * 2**attempt * random.uniform(0.8, 1.2)  # noqa: S311
                        last = attempt == attempts - 1
                        if last or not exc.retriable or loop.time() + pause >= deadline:
                            raise
                        await asyncio.sleep(pause)
        except TimeoutError:
            raise ToolCallFailed(
                "timeout", f"tool {spec.name!r} did not answer within {spec.timeout_s:g} s", True
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _invoke(self, spec: ToolSpec, arguments: dict[str, Any], left_s: float) -> Any:
        impl = spec.implementation
        if isinstance(impl, PythonImplementation):
            return await self.python.call(impl, arguments, left_s)
        if isinstance(impl, HttpImplementation):
            return await self.http.call(spec, impl, arguments)
        if self._mcp is None:
            raise ToolCallFailed("upstream_error", "no MCP gateway is configured", False, False)
        try:
            return await self._mcp.call_tool(impl.server, impl.tool, arguments, max(left_s, 0.001))
        except McpToolFailed as exc:
            raise ToolCallFailed("upstream_error", exc.message, exc.retriable) from None

    async def aclose(self) -> None:
        """Close the HTTP session and the Python tools' threads."""
        await self.http.aclose()
        self.python.close()
