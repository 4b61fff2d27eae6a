"""`agentdeck config check FILE`."""

from __future__ import annotations

from pathlib import Path

import typer

from agentdeck.cli.common import console, print_problems
from agentdeck.errors import AgentdeckError
from agentdeck.gateway.catalog import ModelCatalog
from agentdeck.settings import ConfigFileError, load_settings

app = typer.Typer(help="Work with configuration files.", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="the YAML config file to validate")) -> None:
    """Validate FILE; print each problem with its path and line, exit 1 if there are any."""
    try:
        settings = load_settings(file)
    except ConfigFileError as exc:
        print_problems(exc)
        raise typer.Exit(1) from exc
    try:
        ModelCatalog(settings)  # builds every provider: an unknown one is named here
    except AgentdeckError as exc:
        console.print(f"{file}: {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    aliases = len(settings.models)
    deployments = sum(len(spec.deployments) for spec in settings.models.values())
    typer.echo(
        f"{file}: ok ({aliases} model aliases, {deployments} deployments, "
        f"{len(settings.fake_models)} fake models)"
    )
