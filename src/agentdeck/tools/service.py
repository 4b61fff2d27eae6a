"""`ToolRegistry`: the tenant's tools. Each change runs in one transaction with its audit event,
then every replica's spec cache is told to drop the tool (kv pub/sub on `agentdeck:tools`, and
this process's listeners at once). Specs are checked before they are stored (a name MCP
accepts, JSON Schemas that compile, an object input schema, examples that fit their schema)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import ConflictError, InvalidRequestError, NotFoundError
from agentdeck.identity.audit_log import AuditEvent, append
from agentdeck.kv import KV
from agentdeck.tools.models import ToolSpec, check_tool_name
from agentdeck.tools.store import ToolStore, spec_json

log = logging.getLogger(__name__)
CHANNEL = "agentdeck:tools"


@dataclass(frozen=True, slots=True)
class Editor:
    """Who changes a tool: the tenant, the caller as the audit log names it, the request."""

    tenant_id: str
    name: str
    request_id: str | None = None


def check_spec(spec: ToolSpec) -> None:
    """400 naming the field when a spec cannot be served."""
    check_tool_name(spec.name)
    try:
        orjson.dumps(spec_json(spec))
    except orjson.JSONEncodeError as exc:  # integers past 64 bits
        raise InvalidRequestError(f"the spec cannot be stored: {exc}") from None
    for field, schema in (
        ("input_schema", spec.input_schema),
        ("output_schema", spec.output_schema),
    ):
        if schema is None:
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidRequestError(f"{field}: {exc.message}", param=field) from None
    if spec.input_schema.get("type") != "object":
        raise InvalidRequestError("input_schema must be of type object", param="input_schema")
    validator = Draft202012Validator(spec.input_schema)
    for position, example in enumerate(spec.examples):
        problem = next(iter(validator.iter_errors(example.get("arguments", {}))), None)
        if problem is not None:
            raise InvalidRequestError(
                f"examples[{position}].arguments: {problem.message}", param="examples"
            )


def invalidation(origin: str, tenant_id: str, name: str) -> bytes:
    """The message that tells spec caches to drop a tool, sent by registry `origin`."""
    return orjson.dumps([origin, tenant_id, name])


class ToolRegistry:
    """The tools of one store; every change audited and announced (when given a kv)."""

    def __init__(
        self, engine: AsyncEngine, kv: KV | None = None, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self.store = ToolStore(engine)
        self._kv = kv
        self._clock = clock
        self._listeners: list[Callable[[str, str], None]] = []
        # Names this registry's own announcements: its listeners heard of the change at once,
        # so their cache ignores the echo instead of reading the tool a second time.
        self.origin = secrets.token_hex(8)

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(tenant_id, name)` after each change made through this registry."""
        self._listeners.append(listener)

    async def _changed(self, tenant_id: str, name: str) -> None:
        for listener in self._listeners:
            listener(tenant_id, name)
        if self._kv is None:
            return
        try:
            await self._kv.publish(CHANNEL, invalidation(self.origin, tenant_id, name))
        except Exception as exc:  # noqa: BLE001 - committed already; the caches' TTL catches up
            log.warning("could not announce a change of tool %s: %s", name, exc)

    async def get(self, tenant_id: str, name: str) -> ToolSpec:
        """The tenant's tool called `name` (404 otherwise)."""
        found = await self.store.get(tenant_id, name)
        if found is None:
            raise NotFoundError(f"no tool {name!r}", param="name")
        return found

    async def put(self, editor: Editor, spec: ToolSpec) -> bool:
        """Register or replace a tool; whether it is new."""
        check_spec(spec)
        now = self._clock()
        try:
            async with self.engine.begin() as conn:
                before = await self.store.lock(conn, spec.tenant_id, spec.name)
                await self.store.write(conn, spec, editor.name, now, exists=before is not None)
                await append(
                    conn,
                    [
                        AuditEvent(
                            editor.tenant_id, editor.name,
                            "tool.create" if before is None else "tool.update",
                            f"tool/{spec.name}",
                            spec_json(before) if before is not None else None,
                            spec_json(spec), editor.request_id,
                        )
                    ],
                )  # fmt: skip
        except sa.exc.IntegrityError:  # a concurrent creator of the same name won
            raise ConflictError(f"tool {spec.name!r} was created meanwhile; retry") from None
        await self._changed(spec.tenant_id, spec.name)
        return before is None

    async def delete(self, editor: Editor, name: str) -> None:
        """Remove a tool (404 when there is none)."""
        async with self.engine.begin() as conn:
            before = await self.store.lock(conn, editor.tenant_id, name)
            if before is None or not await self.store.delete(conn, editor.tenant_id, name):
                raise NotFoundError(f"no tool {name!r}", param="name")
            await append(
                conn,
                [
                    AuditEvent(
                        editor.tenant_id, editor.name, "tool.delete", f"tool/{name}",
                        spec_json(before), None, editor.request_id,
                    )
                ],
            )  # fmt: skip
        await self._changed(editor.tenant_id, name)
