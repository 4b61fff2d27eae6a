"""Migrations on a fresh SQLite file and a fresh PostgreSQL schema: head, idempotent, the tables."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import agentdeck.identity.tables
import agentdeck.limits.tables
import agentdeck.prompts.tables
import agentdeck.tools.tables
import agentdeck.tracing.alerts.tables
import agentdeck.tracing.feedback
import agentdeck.tracing.tables  # noqa: F401 - they add their tables to the metadata
from agentdeck.db import current_revision, head_revision, migrate
from agentdeck.db.metadata import instance_meta, metadata
from agentdeck.settings import DatabaseSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    return set(names)


def test_head_revision_is_the_newest_migration() -> None:
    assert head_revision() == "0008"


# Every table the code queries (its metadata) and nothing else, besides Alembic's own.
EVERY_TABLE = {*metadata.tables, "alembic_version"}


async def test_fresh_database_has_no_revision_and_no_tables(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    assert await table_names(engine) == set()


async def test_migrate_reaches_head_and_creates_agentdeck_meta(engine: AsyncEngine) -> None:
    assert await migrate(engine) == head_revision()
    assert await current_revision(engine) == head_revision()
    assert await table_names(engine) == EVERY_TABLE
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda sync: {c["name"]: c for c in sa.inspect(sync).get_columns("agentdeck_meta")}
        )
        primary = await conn.run_sync(
            lambda sync: sa.inspect(sync).get_pk_constraint("agentdeck_meta")
        )
        rows = (await conn.execute(sa.select(instance_meta))).all()
    assert set(columns) == {"key", "value", "updated_at"}
    assert all(column["nullable"] is False for column in columns.values())
    assert primary["constrained_columns"] == ["key"]
    assert rows == []


async def test_migrate_twice_is_a_no_op(engine: AsyncEngine) -> None:
    first = await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(instance_meta.insert().values(key="k", value="v", updated_at=NOW))
    second = await migrate(engine)
    assert first == second == head_revision()
    assert await table_names(engine) == EVERY_TABLE
    async with engine.connect() as conn:
        versions = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
        kept = (await conn.execute(sa.select(instance_meta.c.value))).scalars().all()
    assert versions == [(head_revision(),)]
    assert kept == ["v"]


async def test_migrations_build_the_declared_metadata(engine: AsyncEngine) -> None:
    await migrate(engine)
    declared = set(metadata.tables)
    assert declared <= await table_names(engine)


async def test_postgres_schema_holds_the_tables(fresh_postgres: dict[str, str]) -> None:
    from agentdeck.db import create_engine

    engine = create_engine(DatabaseSettings(**fresh_postgres))
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            where = await conn.scalar(sa.text("SELECT current_schema()"))
            found = (
                (
                    await conn.execute(
                        sa.text(
                            "SELECT table_name FROM information_schema.tables"
                            " WHERE table_schema = :schema ORDER BY table_name"
                        ),
                        {"schema": fresh_postgres["schema_name"]},
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert where == fresh_postgres["schema_name"]
    assert found == sorted(EVERY_TABLE)
