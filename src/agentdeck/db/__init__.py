"""Async SQL engine (SQLite or PostgreSQL), schema metadata and Alembic migrations."""

from __future__ import annotations

from agentdeck.db.engine import create_engine, ping
from agentdeck.db.migrate import current_revision, head_revision, migrate

__all__ = ["create_engine", "current_revision", "head_revision", "migrate", "ping"]
