"""The `agentdeck` command line; one module per command group, no business logic here."""

from __future__ import annotations

import typer

from agentdeck.cli import approvals, config, db, identity, prompts, serve, tools

app = typer.Typer(
    name="agentdeck",
    help="agentdeck: run LLM agents in production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("fake-upstream")(serve.fake_upstream)
app.command("migrate")(db.migrate_command)
app.command("version")(db.version)
app.add_typer(config.app, name="config")
app.command("init")(identity.init)
app.add_typer(identity.keys, name="keys")
app.add_typer(identity.users, name="users")
app.add_typer(identity.limits, name="limits")
app.add_typer(identity.budgets, name="budgets")
app.add_typer(identity.credentials, name="credentials")
app.add_typer(identity.audit, name="audit")
app.add_typer(prompts.app, name="prompts")
app.add_typer(tools.app, name="tools")
app.add_typer(approvals.app, name="approvals")


def main() -> None:
    """Entry point of the `agentdeck` script."""
    app()
