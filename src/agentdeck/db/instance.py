"""This installation's identity, kept in agentdeck_meta so every replica on one store agrees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.db.metadata import instance_meta


async def ensure_installation_id(engine: AsyncEngine) -> str:
    """The installation id, created on first start; concurrent first starts agree on one id."""
    async with engine.begin() as conn:
        found = await conn.scalar(
            sa.select(instance_meta.c.value).where(instance_meta.c.key == "installation_id")
        )
        if found is not None:
            return str(found)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                instance_meta.insert().values(
                    key="installation_id", value=uuid.uuid4().hex, updated_at=datetime.now(UTC)
                )
            )
    except sa.exc.IntegrityError:
        pass  # another replica inserted it first; read theirs below
    async with engine.connect() as conn:
        value = await conn.scalar(
            sa.select(instance_meta.c.value).where(instance_meta.c.key == "installation_id")
        )
    return str(value)
