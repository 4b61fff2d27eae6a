"""The installation id: created once, then the same for every caller and every replica."""

from __future__ import annotations

import asyncio
import re

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db import create_engine, migrate
from agentdeck.db.instance import ensure_installation_id
from agentdeck.db.metadata import instance_meta
from agentdeck.settings import DatabaseSettings


async def installation_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        query = sa.select(instance_meta.c.value).where(instance_meta.c.key == "installation_id")
        return list((await conn.execute(query)).scalars().all())


async def test_installation_id_is_created_once_and_then_reused(engine: AsyncEngine) -> None:
    await migrate(engine)
    first = await ensure_installation_id(engine)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert [await ensure_installation_id(engine) for _ in range(3)] == [first] * 3
    assert await installation_rows(engine) == [first]


async def test_installation_id_survives_a_new_engine(database_settings: DatabaseSettings) -> None:
    engine = create_engine(database_settings)
    try:
        await migrate(engine)
        first = await ensure_installation_id(engine)
    finally:
        await engine.dispose()
    engine = create_engine(database_settings)
    try:
        assert await ensure_installation_id(engine) == first
    finally:
        await engine.dispose()


async def test_concurrent_first_starts_on_postgres_agree_on_one_id(
    fresh_postgres: dict[str, str],
) -> None:
    settings = DatabaseSettings(**fresh_postgres)
    # five engines stand in for five replicas starting at once, two calls each
    engines = [create_engine(settings) for _ in range(5)]
    conflicts: list[str] = []
    for engine in engines:
        event.listen(
            engine.sync_engine,
            "handle_error",
            lambda context: conflicts.append(type(context.sqlalchemy_exception).__name__),
        )
    try:
        await migrate(engines[0])
        async with engines[0].connect() as gate:
            # SHARE lets every SELECT through but holds every INSERT: all ten callers find no
            # id and try to insert one at the same moment once the gate opens
            await gate.execute(sa.text("LOCK TABLE agentdeck_meta IN SHARE MODE"))
            calls = asyncio.gather(*(ensure_installation_id(engines[n % 5]) for n in range(10)))
            waiting = 0
            for _ in range(500):
                waiting = await gate.scalar(WAITING_INSERTS)
                if waiting == 10:
                    break
                await asyncio.sleep(0.01)
            assert waiting == 10
            await gate.commit()
            ids = await calls
        assert len(set(ids)) == 1
        assert conflicts == ["IntegrityError"] * 9  # the losers' inserts, each handled
        assert await installation_rows(engines[0]) == [ids[0]]
    finally:
        for engine in engines:
            await engine.dispose()


WAITING_INSERTS = sa.text(
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'agentdeck_meta'::regclass"
)
