"""The prompt registry's SQL: reads on their own connection, writes on the caller's
transaction (the service opens it, so a change, its history and its audit event commit
together). Every statement is bounded by tenant and project."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.identity.tables import projects
from agentdeck.prompts.models import (
    LabelState,
    LabelTarget,
    PromptKey,
    PromptSnapshot,
    Version,
)
from agentdeck.prompts.tables import prompt_label_moves, prompt_labels, prompt_versions, prompts
from agentdeck.tracing.queries import iso_time

_P, _V, _L, _M = prompts.c, prompt_versions.c, prompt_labels.c, prompt_label_moves.c


def _of(columns: Any, key: PromptKey) -> sa.ColumnElement[bool]:
    return sa.and_(
        columns.tenant_id == key.tenant_id,
        columns.project_id == key.project_id,
        columns.name == key.name,
    )


def _version(row: Any) -> Version:
    return Version(
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        name=row.name,
        version=row.version,
        type=row.type,
        content=orjson.loads(row.content),
        content_hash=row.content_hash,
        author=row.author,
        created_ns=row.created_ns,
        message=row.message,
        archived=bool(row.archived),
    )


def _label(row: Any) -> LabelState:
    return LabelState(
        row.label,
        LabelTarget.from_json(orjson.loads(row.target)),
        bool(row.protected),
        row.updated_ns,
        row.updated_by,
    )


def _target(text: str | None) -> dict[str, Any] | None:
    return orjson.loads(text) if text is not None else None


def dump_target(target: LabelTarget | None) -> str | None:
    """A target as stored (JSON), None for no target."""
    return orjson.dumps(target.to_json()).decode() if target is not None else None


def move_json(row: Any) -> dict[str, Any]:
    """A stored label move as the API shows it."""
    return {
        "label": row.label,
        "from": _target(row.from_target),
        "to": _target(row.to_target),
        "actor": row.actor,
        "at": iso_time(row.at_ns),
        "message": row.message,
        "request_id": row.request_id,
    }


def summary_json(row: Any, labels: dict[str, LabelState]) -> dict[str, Any]:
    """A prompt row with its labels as the API shows it."""
    return {
        "name": row.name,
        "project": row.project_id,
        "type": row.type,
        "latest_version": row.latest_version,
        "labels": {label: state.to_json() for label, state in sorted(labels.items())},
        "created_at": iso_time(row.created_ns),
        "updated_at": iso_time(row.updated_ns),
    }


class PromptStore:
    """Reads of one store."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def find_project(self, tenant_id: str, project: str) -> str | None:
        """The id of the tenant's project with this id or slug, or None."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(projects.c.id, projects.c.slug).where(
                    projects.c.tenant_id == tenant_id,
                    sa.or_(projects.c.id == project, projects.c.slug == project),
                )
            )
            found = {row.id: row.slug for row in rows}
        if project in found:  # an id wins over another project's slug
            return project
        return next(iter(found), None)

    async def page(
        self, tenant_id: str, project_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the project's prompts by name, and the name to continue after."""
        where = [_P.tenant_id == tenant_id, _P.project_id == project_id]
        if after is not None:
            where.append(_P.name > after)
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(prompts).where(*where).order_by(_P.name).limit(limit + 1)
                )
            )
            shown = rows[:limit]
            labels: dict[str, dict[str, LabelState]] = {row.name: {} for row in shown}
            if shown:
                found = await conn.execute(
                    sa.select(prompt_labels).where(
                        _L.tenant_id == tenant_id,
                        _L.project_id == project_id,
                        _L.name.in_(list(labels)),
                    )
                )
                for row in found:
                    labels[row.name][row.label] = _label(row)
        after_name = shown[-1].name if len(rows) > limit else None
        return [summary_json(row, labels[row.name]) for row in shown], after_name

    async def prompt(self, key: PromptKey) -> tuple[Any, dict[str, LabelState]] | None:
        """The prompt's row and labels, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(prompts).where(_of(_P, key)))).one_or_none()
            if row is None:
                return None
            return row, await labels_of(conn, key)

    async def versions(self, key: PromptKey, include_archived: bool) -> list[Version]:
        """The prompt's versions, newest first."""
        query = sa.select(prompt_versions).where(_of(_V, key))
        if not include_archived:
            query = query.where(_V.archived.is_(False))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(_V.version.desc()))
            return [_version(row) for row in rows]

    async def version(self, key: PromptKey, number: int) -> Version | None:
        """One version of the prompt, or None."""
        async with self.engine.connect() as conn:
            return await version_of(conn, key, number)

    async def history(
        self, key: PromptKey, label: str, before: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the label's moves, newest first, and the id to continue before."""
        where = [_of(_M, key), _M.label == label]
        if before is not None:
            where.append(_M.id < before)
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(prompt_label_moves)
                    .where(*where)
                    .order_by(_M.id.desc())
                    .limit(limit + 1)
                )
            )
        shown = rows[:limit]
        return [move_json(row) for row in shown], (shown[-1].id if len(rows) > limit else None)

    async def snapshot(self, key: PromptKey) -> PromptSnapshot | None:
        """The prompt's latest number, labels and the versions they point at; None when
        there is no such prompt."""
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(_P.latest_version, prompt_labels)
                    .select_from(prompts.outerjoin(prompt_labels, _of(_L, key)))
                    .where(_of(_P, key))
                )
            )
            if not rows:
                return None
            labels = {row.label: _label(row) for row in rows if row.label is not None}
            wanted = sorted({n for state in labels.values() for n in state.target.versions()})
            versions: dict[int, Version] = {}
            if wanted:
                found = await conn.execute(
                    sa.select(prompt_versions).where(_of(_V, key), _V.version.in_(wanted))
                )
                versions = {row.version: _version(row) for row in found}
        return PromptSnapshot(rows[0].latest_version, labels, versions)


# Reads and writes on the caller's connection


async def labels_of(conn: AsyncConnection, key: PromptKey) -> dict[str, LabelState]:
    """The prompt's labels by name."""
    rows = await conn.execute(sa.select(prompt_labels).where(_of(_L, key)))
    return {row.label: _label(row) for row in rows}


async def label_of(conn: AsyncConnection, key: PromptKey, label: str) -> LabelState | None:
    """One label of the prompt, or None."""
    row = (
        await conn.execute(sa.select(prompt_labels).where(_of(_L, key), _L.label == label))
    ).one_or_none()
    return _label(row) if row is not None else None


async def version_of(conn: AsyncConnection, key: PromptKey, number: int) -> Version | None:
    """One version of the prompt, or None."""
    row = (
        await conn.execute(sa.select(prompt_versions).where(_of(_V, key), _V.version == number))
    ).one_or_none()
    return _version(row) if row is not None else None


async def archived_among(
    conn: AsyncConnection, key: PromptKey, numbers: list[int]
) -> dict[int, bool]:
    """Of `numbers`, those that exist, each with whether it is archived."""
    rows = await conn.execute(
        sa.select(_V.version, _V.archived).where(_of(_V, key), _V.version.in_(numbers))
    )
    return {row.version: bool(row.archived) for row in rows}


async def prompt_row(conn: AsyncConnection, key: PromptKey) -> Any:
    """The prompt's row, or None."""
    return (await conn.execute(sa.select(prompts).where(_of(_P, key)))).one_or_none()


async def lock(conn: AsyncConnection, key: PromptKey) -> Any:
    """Lock the prompt's row for this transaction and return it (None when there is no such
    prompt). The no-op update takes the row lock on PostgreSQL and the write lock on SQLite,
    which a read first would not."""
    touch = prompts.update().where(_of(_P, key)).values(latest_version=_P.latest_version)
    if (await conn.execute(touch)).rowcount == 0:
        return None
    return (await conn.execute(sa.select(prompts).where(_of(_P, key)))).one()


async def create(conn: AsyncConnection, key: PromptKey, kind: str, actor: str, now: int) -> Any:
    """Create the prompt with no version yet unless it exists (also when a concurrent first
    version created it meanwhile: the insert then waits for that commit and does nothing),
    and lock it."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(prompts)
        .values(
            tenant_id=key.tenant_id,
            project_id=key.project_id,
            name=key.name,
            type=kind,
            latest_version=0,
            created_by=actor,
            created_ns=now,
            updated_ns=now,
        )
        .on_conflict_do_nothing(index_elements=[_P.tenant_id, _P.project_id, _P.name])
    )
    return await lock(conn, key)


async def add_version(conn: AsyncConnection, version: Version) -> None:
    """Store a new version and make it the prompt's latest."""
    key = PromptKey(version.tenant_id, version.project_id, version.name)
    await conn.execute(
        prompt_versions.insert().values(
            tenant_id=key.tenant_id,
            project_id=key.project_id,
            name=key.name,
            version=version.version,
            type=version.type,
            content=orjson.dumps(version.content).decode(),
            content_hash=version.content_hash,
            author=version.author,
            message=version.message,
            created_ns=version.created_ns,
            archived=False,
        )
    )
    await conn.execute(
        prompts.update()
        .where(_of(_P, key))
        .values(latest_version=version.version, type=version.type, updated_ns=version.created_ns)
    )


async def set_archived(conn: AsyncConnection, key: PromptKey, number: int, archived: bool) -> None:
    """Archive or unarchive one version."""
    await conn.execute(
        prompt_versions.update().where(_of(_V, key), _V.version == number).values(archived=archived)
    )


async def put_label(conn: AsyncConnection, key: PromptKey, state: LabelState, new: bool) -> None:
    """Create or replace a label's row."""
    values = {
        "target": dump_target(state.target),
        "protected": state.protected,
        "updated_by": state.updated_by,
        "updated_ns": state.updated_ns,
    }
    if new:
        await conn.execute(
            prompt_labels.insert().values(
                tenant_id=key.tenant_id,
                project_id=key.project_id,
                name=key.name,
                label=state.label,
                **values,
            )
        )
    else:
        await conn.execute(
            prompt_labels.update().where(_of(_L, key), _L.label == state.label).values(values)
        )
    await touch(conn, key, state.updated_ns)


async def delete_label(conn: AsyncConnection, key: PromptKey, label: str, now: int) -> None:
    """Remove a label's row."""
    await conn.execute(prompt_labels.delete().where(_of(_L, key), _L.label == label))
    await touch(conn, key, now)


async def touch(conn: AsyncConnection, key: PromptKey, now: int) -> None:
    """Note that the prompt changed now."""
    await conn.execute(prompts.update().where(_of(_P, key)).values(updated_ns=now))


async def record_move(
    conn: AsyncConnection,
    key: PromptKey,
    label: str,
    before: LabelTarget | None,
    after: LabelTarget | None,
    actor: str,
    message: str,
    request_id: str | None,
    now: int,
) -> None:
    """Append a move to the label's history."""
    await conn.execute(
        prompt_label_moves.insert().values(
            tenant_id=key.tenant_id,
            project_id=key.project_id,
            name=key.name,
            label=label,
            from_target=dump_target(before),
            to_target=dump_target(after),
            actor=actor,
            message=message,
            request_id=request_id,
            at_ns=now,
        )
    )


async def last_move(conn: AsyncConnection, key: PromptKey, label: str) -> Any:
    """The label's latest move, or None."""
    return (
        await conn.execute(
            sa.select(prompt_label_moves)
            .where(_of(_M, key), _M.label == label)
            .order_by(_M.id.desc())
            .limit(1)
        )
    ).one_or_none()
