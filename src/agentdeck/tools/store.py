"""Tool specs as stored (JSON in `tools.spec`) and read back, and the registry's SQL."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.errors import NotFoundError
from agentdeck.identity.tables import projects
from agentdeck.tools.models import (
    HttpImplementation,
    Implementation,
    McpImplementation,
    PythonImplementation,
    RetryPolicy,
    ToolSpec,
)
from agentdeck.tools.tables import tools

_T = tools.c


def implementation_json(implementation: Implementation) -> dict[str, Any]:
    """An implementation as the API shows it, with its `kind`."""
    if isinstance(implementation, HttpImplementation):
        return {
            "kind": "http",
            "method": implementation.method,
            "url": implementation.url,
            "headers": dict(implementation.headers),
            "body": implementation.body,
        }
    if isinstance(implementation, PythonImplementation):
        return {"kind": "python", "entry_point": implementation.entry_point}
    return {"kind": "mcp", "server": implementation.server, "tool": implementation.tool}


def implementation_from(data: dict[str, Any]) -> Implementation:
    """An implementation from its JSON form (already validated by the API)."""
    kind = data["kind"]
    if kind == "http":
        return HttpImplementation(
            data["method"].upper(), data["url"], dict(data.get("headers") or {}),
            data.get("body", "json"),
        )  # fmt: skip
    if kind == "python":
        return PythonImplementation(data["entry_point"])
    return McpImplementation(data["server"], data["tool"])


def spec_json(spec: ToolSpec) -> dict[str, Any]:
    """A spec as the API shows it (header values are templates: credentials by name only)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "input_schema": spec.input_schema,
        "output_schema": spec.output_schema,
        "implementation": implementation_json(spec.implementation),
        "version": spec.version,
        "owner": spec.owner,
        "risk": spec.risk,
        "timeout_s": spec.timeout_s,
        "retry": {"attempts": spec.retry.attempts, "backoff_s": spec.retry.backoff_s},
        "examples": list(spec.examples),
        "project": spec.project_id,
        "allowed_keys": list(spec.allowed_keys) if spec.allowed_keys is not None else None,
        "allowed_agents": list(spec.allowed_agents) if spec.allowed_agents is not None else None,
    }


def spec_from(data: dict[str, Any], tenant_id: str) -> ToolSpec:
    """A spec from its JSON form, in `tenant_id`."""
    retry = data.get("retry") or {}
    keys, agents = data.get("allowed_keys"), data.get("allowed_agents")
    return ToolSpec(
        name=data["name"],
        description=data.get("description", ""),
        input_schema=data.get("input_schema") or {"type": "object"},
        output_schema=data.get("output_schema"),
        implementation=implementation_from(data["implementation"]),
        version=str(data.get("version", "1")),
        owner=data.get("owner"),
        risk=data.get("risk", "low"),
        timeout_s=float(data.get("timeout_s", 10.0)),
        retry=RetryPolicy(int(retry.get("attempts", 1)), float(retry.get("backoff_s", 0.2))),
        examples=tuple(data.get("examples") or ()),
        tenant_id=tenant_id,
        project_id=data.get("project"),
        allowed_keys=tuple(keys) if keys is not None else None,
        allowed_agents=tuple(agents) if agents is not None else None,
    )


def _spec(row: Any) -> ToolSpec:
    return spec_from(orjson.loads(row.spec), row.tenant_id)


class ToolStore:
    """The registry's reads and writes; every statement bounded by tenant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, tenant_id: str, name: str) -> ToolSpec | None:
        """The tenant's tool called `name`, or None."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tools).where(_T.tenant_id == tenant_id, _T.name == name)
                )
            ).one_or_none()
        return _spec(row) if row is not None else None

    async def page(
        self, tenant_id: str, project_id: str, after: str | None, limit: int
    ) -> tuple[list[ToolSpec], str | None]:
        """A page of the tools a project sees (its own and tenant-wide ones), by name."""
        where = [
            _T.tenant_id == tenant_id,
            sa.or_(_T.project_id.is_(None), _T.project_id == project_id),
        ]
        if after is not None:
            where.append(_T.name > after)
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(tools).where(*where).order_by(_T.name).limit(limit + 1)
                )
            )
        shown = [_spec(row) for row in rows[:limit]]
        return shown, (shown[-1].name if len(rows) > limit else None)

    async def lock(self, conn: AsyncConnection, tenant_id: str, name: str) -> ToolSpec | None:
        """The tool's current spec, its row locked for the caller's transaction."""
        query = sa.select(tools).where(_T.tenant_id == tenant_id, _T.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).one_or_none()
        return _spec(row) if row is not None else None

    async def write(
        self, conn: AsyncConnection, spec: ToolSpec, actor: str, now: int, exists: bool
    ) -> None:
        """Insert or replace the tool's row."""
        values = {
            "project_id": spec.project_id,
            "spec": orjson.dumps(spec_json(spec)).decode(),
            "updated_by": actor,
            "updated_ns": now,
        }
        if exists:
            await conn.execute(
                tools.update()
                .where(_T.tenant_id == spec.tenant_id, _T.name == spec.name)
                .values(**values)
            )
        else:
            await conn.execute(
                tools.insert().values(
                    tenant_id=spec.tenant_id, name=spec.name, created_by=actor,
                    created_ns=now, **values,
                )
            )  # fmt: skip

    async def delete(self, conn: AsyncConnection, tenant_id: str, name: str) -> bool:
        """Remove the tool; whether it existed."""
        done = await conn.execute(tools.delete().where(_T.tenant_id == tenant_id, _T.name == name))
        return bool(done.rowcount)

    async def find_project(self, tenant_id: str, project: str) -> str:
        """The id of the tenant's project with this id or slug (404 otherwise)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(projects.c.id).where(
                    projects.c.tenant_id == tenant_id,
                    sa.or_(projects.c.id == project, projects.c.slug == project),
                )
            )
            found = [row.id for row in rows]
        if not found:
            raise NotFoundError(f"no project {project!r}", param="project")
        return project if project in found else found[0]  # an id wins over a slug
