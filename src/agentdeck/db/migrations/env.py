"""Alembic environment: always run with a connection handed in by agentdeck.db.migrate."""

from __future__ import annotations

from alembic import context

from agentdeck.db.metadata import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `agentdeck migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
