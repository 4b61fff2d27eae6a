"""`agentdeck migrate` and `agentdeck version`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from agentdeck import __version__
from agentdeck.cli.common import ConfigOption, settings_or_exit


def migrate_command(
    config: Path | None = ConfigOption,
    revision: str = typer.Option("head", help="revision to upgrade to"),
) -> None:
    """Apply database migrations up to REVISION (default: the newest)."""
    settings = settings_or_exit(config)

    async def run() -> tuple[str | None, str | None]:
        from agentdeck.db import create_engine, current_revision, migrate

        engine = create_engine(settings.database)
        try:
            before = await current_revision(engine)
            after = await migrate(engine, revision)
        finally:
            await engine.dispose()
        return before, after

    before, after = asyncio.run(run())
    if before == after:
        typer.echo(f"database already at {after}")
    else:
        typer.echo(f"database migrated from {before or 'empty'} to {after}")


def version() -> None:
    """Print the agentdeck version and the newest schema revision."""
    from agentdeck.db import head_revision

    typer.echo(f"agentdeck {__version__} (schema {head_revision()})")
