"""`agentdeck approvals`: list approval requests of high-risk tool calls and approve or deny
them through the admin API (`/api/v1/approvals`); each decision is audited by the server.
Exit codes: 0 done, 1 the server refused or could not be reached."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from agentdeck.sdk.client import ApiClient

app = typer.Typer(help="Approve or deny high-risk tool calls.", no_args_is_help=True)
out = Console(soft_wrap=True)
UrlOption = typer.Option(
    "http://127.0.0.1:8080", "--url", envvar="AGENTDECK_URL", help="agentdeck server base URL"
)
KeyOption = typer.Option(
    None, "--api-key", envvar="AGENTDECK_API_KEY", help="agentdeck key", show_default=False
)


@contextmanager
def api_client(url: str, api_key: str | None) -> Iterator[ApiClient]:
    """A client of the server; any API error ends the command with exit 1."""
    from agentdeck.sdk.client import AgentdeckAPIError, ApiClient  # see cli/prompts.py

    with ApiClient(url, api_key, timeout_s=60.0) as client:
        try:
            yield client
        except AgentdeckAPIError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


@app.command("list")
def list_approvals(
    status: str | None = typer.Option(
        "pending", help="pending, approved, denied, used or expired; 'all' for every status"
    ),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Approval requests, newest first (pending by default)."""
    with api_client(url, api_key) as client:
        found = client.get("/approvals", status=None if status == "all" else status, limit=500)[
            "data"
        ]
    table = Table("id", "tool", "status", "requester", "run", "arguments", "expires")
    for item in found:
        table.add_row(
            item["id"], item["tool"], item["status"], item["requester"], item["run_id"] or "",
            orjson.dumps(item["arguments"]).decode()[:80], item["expires_at"],
        )  # fmt: skip
    out.print(table)


def _decide(verb: str, approval_id: str, reason: str | None, url: str, api_key: str | None) -> None:
    with api_client(url, api_key) as client:
        found = client.request("POST", f"/approvals/{approval_id}/{verb}", json={"reason": reason})
    out.print(f"{found['id']} {found['status']} ({found['tool']}, by {found['decided_by']})")


@app.command("approve")
def approve(
    approval_id: str,
    reason: str | None = typer.Option(None, help="kept with the decision"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Approve a pending call (never one's own)."""
    _decide("approve", approval_id, reason, url, api_key)


@app.command("deny")
def deny(
    approval_id: str,
    reason: str | None = typer.Option(None, help="kept with the decision"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Deny a pending call; it then gets a `denied` result."""
    _decide("deny", approval_id, reason, url, api_key)
