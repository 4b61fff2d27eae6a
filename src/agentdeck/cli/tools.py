"""`agentdeck tools`: list the registry and test tools against the live server. `test` calls
each tool with its declared examples through `POST /api/v1/tools/{name}/call` (the executor,
as an agent would) and checks each result's shape against the example's `result_schema`; the
first example doubles as the tool's health check. Exit codes: 0 every test passed, 1 a test
failed or the server refused, 2 bad usage."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from agentdeck.cli.approvals import KeyOption, UrlOption, api_client

app = typer.Typer(help="Tools: list them, test them against the live server.", no_args_is_help=True)
out = Console(soft_wrap=True)


@app.command("list")
def list_tools(url: str = UrlOption, api_key: str | None = KeyOption) -> None:
    """The tools the key's project sees."""
    with api_client(url, api_key) as client:
        found = client.get("/tools", limit=500)["data"]
    table = Table("name", "risk", "kind", "version", "callable", "description")
    for tool in found:
        table.add_row(
            tool["name"], tool["risk"], tool["implementation"]["kind"], tool["version"],
            "yes" if tool["callable"] else "no", tool["description"][:60],
        )  # fmt: skip
    out.print(table)


def _check(example: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """Why the answer to an example fails it, or None."""
    if not answer.get("ok"):
        error = answer.get("error") or {}
        return f"{error.get('type')}: {error.get('message')}"
    shape = example.get("result_schema")
    if shape is None:
        return None
    from jsonschema import Draft202012Validator

    wrong = next(iter(Draft202012Validator(shape).iter_errors(answer.get("result"))), None)
    return f"result_schema: {wrong.message}" if wrong is not None else None


def _test_one(client: Any, tool: dict[str, Any], high_risk: bool) -> list[tuple[str, ...]]:
    """One row per example of `tool`: (tool, test, outcome, ms, detail)."""
    name = tool["name"]
    if tool["risk"] == "high" and not high_risk:
        return [(name, "-", "skip", "-", "high-risk: calls wait for approval (--high-risk)")]
    if not tool["examples"]:
        return [(name, "-", "skip", "-", "no examples declared")]
    rows: list[tuple[str, ...]] = []
    for position, example in enumerate(tool["examples"]):
        started = time.perf_counter()
        answer = client.request(
            "POST", f"/tools/{name}/call", json={"arguments": example.get("arguments", {})}
        )
        took = f"{(time.perf_counter() - started) * 1000:.0f}"
        problem = _check(example, answer)
        test = "health" if position == 0 else f"example {position}"
        rows.append((name, test, "FAIL" if problem else "pass", took, problem or ""))
    return rows


@app.command("test")
def run_tests(
    name: str | None = typer.Argument(None, help="one tool (default: every tool)"),
    high_risk: bool = typer.Option(False, "--high-risk", help="also call high-risk tools"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Run each tool's examples against the live tool; exit 1 when any fails."""
    with api_client(url, api_key) as client:
        tools = [client.get(f"/tools/{name}")] if name else client.get("/tools", limit=500)["data"]
        rows = [row for tool in tools for row in _test_one(client, tool, high_risk)]
    table = Table("tool", "test", "outcome", "ms", "detail")
    for row in rows:
        table.add_row(*row, style="red" if row[2] == "FAIL" else None)
    out.print(table)
    failed = sum(row[2] == "FAIL" for row in rows)
    passed = sum(row[2] == "pass" for row in rows)
    out.print(f"{passed} passed, {failed} failed, {len(rows) - passed - failed} skipped")
    if failed:
        raise typer.Exit(1)
