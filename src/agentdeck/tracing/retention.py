"""Span retention: a periodic job deletes spans older than their project's retention, and the
feedback recorded on them.

Deletes go tenant by tenant along the (tenant, start) index, a bounded batch per statement,
so that the job never holds the store for long while spans keep arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.settings_tracing import RetentionSettings
from agentdeck.tracing.feedback import feedback
from agentdeck.tracing.tables import spans

log = logging.getLogger(__name__)
_C = spans.c
_F = feedback.c
_DAY_NS = 86_400 * 1_000_000_000


class RetentionJob:
    """Runs `sweep` every `interval_s` in the background."""

    def __init__(self, engine: AsyncEngine, settings: RetentionSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self.deleted = 0

    async def start(self) -> None:
        """Begin sweeping in the background (nothing to do when everything is kept)."""
        if self._settings.days or any(self._settings.projects.values()):
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("span retention sweep failed, retrying next round: %s", exc)
            await asyncio.sleep(self._settings.interval_s)

    async def sweep(self, now_ns: int | None = None) -> int:
        """Delete every span past its project's retention; how many were deleted."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        settings = self._settings
        listed = list(settings.projects)
        deleted = 0
        async for tenant in self._tenants():
            for project, days in settings.projects.items():
                if days:
                    cut = now_ns - days * _DAY_NS
                    deleted += await self._delete_before(tenant, cut, [project], exclude=False)
            if settings.days:
                cut = now_ns - settings.days * _DAY_NS
                deleted += await self._delete_before(tenant, cut, listed, exclude=True)
        self.deleted += deleted
        if deleted:
            log.info("span retention: %d spans deleted", deleted)
        return deleted

    async def _delete_before(
        self, tenant: str, cut_ns: int, projects: list[str], exclude: bool
    ) -> int:
        """Delete the tenant's spans started before `cut_ns` in `projects` (or, with
        `exclude`, in every other project), and the feedback recorded on them before then;
        how many spans were deleted."""
        counts = []
        for table, key, start, project in (
            (spans, (_C.tenant_id, _C.trace_id, _C.span_id), _C.start_ns, _C.project_id),
            (feedback, (_F.id,), _F.created_ns, _F.project_id),
        ):
            where = sa.and_(table.c.tenant_id == tenant, start < cut_ns)
            if projects:
                chosen = project.not_in(projects) if exclude else project.in_(projects)
                where = sa.and_(where, chosen)
            counts.append(await self._delete(table, key, where))
        return counts[0]  # the spans; their feedback went with them

    async def _tenants(self) -> AsyncIterator[str]:
        """Every tenant that has spans, one index seek each (no scan of the table)."""
        last = ""
        while True:
            async with self._engine.connect() as conn:
                found = await conn.scalar(
                    sa.select(sa.func.min(_C.tenant_id)).where(_C.tenant_id > last)
                )
            if found is None:
                return
            yield found
            last = found

    async def _delete(
        self,
        table: sa.Table,
        key_columns: tuple[sa.Column[Any], ...],
        where: sa.ColumnElement[bool],
    ) -> int:
        key = sa.tuple_(*key_columns) if len(key_columns) > 1 else key_columns[0]
        batch = sa.select(*key_columns).where(where).limit(self._settings.batch)
        total = 0
        while True:
            async with self._engine.begin() as conn:
                result = await conn.execute(table.delete().where(key.in_(batch)))
            total += result.rowcount
            if result.rowcount < self._settings.batch:
                return total
            await asyncio.sleep(0)  # let requests in between batches
