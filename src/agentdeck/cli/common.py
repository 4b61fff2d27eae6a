"""What every command needs: loading settings and reporting config problems plainly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentdeck.settings import ConfigFileError, Settings, load_settings

console = Console(stderr=True, soft_wrap=True)  # one problem per line, never wrapped

ConfigOption = typer.Option(
    None, "--config", "-c", help="YAML config file (default: $AGENTDECK_CONFIG or ./agentdeck.yaml)"
)


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """Load settings; on a bad config print each problem with its line and exit 2."""
    try:
        return load_settings(config, **overrides)
    except ConfigFileError as exc:
        print_problems(exc)
        raise typer.Exit(2) from exc


def print_problems(exc: ConfigFileError) -> None:
    """One line per problem: file:line: path: message."""
    console.print(f"[red]invalid configuration in {exc.source}[/red]")
    for path, line, message in exc.problems:
        where = f"{exc.source}:{line}" if line is not None else exc.source
        console.print(f"  {where}: [bold]{path}[/bold]: {message}", highlight=False)


def configure_logging(level: str) -> None:
    """Plain timestamped logs on stderr."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces every plugin and step at INFO; only its problems are worth a line.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
