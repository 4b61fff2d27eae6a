"""`agentdeck prompts`: prompts as code. YAML files in a directory are checked locally, pushed
as new versions (only when their content changed), pulled back, diffed against the server, and
labels moved, split, rolled back and traced, all through the admin API (`/api/v1/prompts`).

Exit codes: 0 done, 1 the server refused or could not be reached (or `diff DIR` found
differences), 2 bad local input or usage."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentdeck.cli.prompt_files import (
    PromptFile,
    PromptFileError,
    canonical,
    load_file,
    prompt_paths,
    slim,
    to_yaml,
)

if TYPE_CHECKING:
    from agentdeck.sdk.client import ApiClient

app = typer.Typer(help="Prompts as code: push, pull, diff, label, roll back.", no_args_is_help=True)
out = Console(soft_wrap=True)
EXIT_API, EXIT_USAGE = 1, 2
UrlOption = typer.Option(
    "http://127.0.0.1:8080", "--url", envvar="AGENTDECK_URL", help="agentdeck server base URL"
)
KeyOption = typer.Option(
    None, "--api-key", envvar="AGENTDECK_API_KEY", help="agentdeck key", show_default=False
)
ProjectOption = typer.Option(None, "--project", help="project (default: the key's project)")


def _fail(message: str, code: int = EXIT_API) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _api(url: str, api_key: str | None) -> Iterator[ApiClient]:
    """A client of the server; any API error ends the command with exit 1."""
    # Imported here: `agentdeck.sdk` pulls in OpenTelemetry, which `agentdeck --help` and
    # `agentdeck serve` need not load.
    from agentdeck.sdk.client import AgentdeckAPIError, ApiClient

    with ApiClient(url, api_key, timeout_s=30.0) as client:
        try:
            yield client
        except AgentdeckAPIError as exc:
            _fail(str(exc))


def _path(name: str, *rest: str | int) -> str:
    from agentdeck.sdk.client import prompt_path

    return prompt_path(name, *rest)


def load_dir(root: Path) -> list[PromptFile]:
    """Every prompt file under `root`; with any problem, prints them all and exits 2."""
    files: list[PromptFile] = []
    problems: list[PromptFileError] = []
    for path in prompt_paths(root):
        try:
            files.append(load_file(root, path))
        except PromptFileError as exc:
            problems.append(exc)
    seen: dict[str, Path] = {}
    for file in files:
        if file.name in seen:
            problems.append(
                PromptFileError(file.path, None, f"name {file.name!r} is also {seen[file.name]}")
            )
        seen.setdefault(file.name, file.path)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        _fail(f"{len(problems)} invalid prompt file(s) in {root}; nothing was sent", EXIT_USAGE)
    if not files:
        _fail(f"no prompt files (*.yaml, *.yml) in {root}", EXIT_USAGE)
    return files


# --- talking to the server -----------------------------------------------------------------


def _latest(client: ApiClient, name: str, project: str | None) -> dict[str, Any] | None:
    """The latest version of `name` on the server, None when there is no such prompt."""
    from agentdeck.sdk.client import AgentdeckAPIError

    try:
        prompt = client.get(_path(name), project=project)
    except AgentdeckAPIError as exc:
        if exc.status == 404:
            return None
        raise
    version: dict[str, Any] = client.get(
        _path(name, "versions", prompt["latest_version"]), project=project
    )
    return version


def _target(state: dict[str, Any] | None) -> str:
    """A label target as text: `v3`, or `v3:90 v4:10` for splits."""
    if not state:
        return "-"
    if state.get("splits"):
        return " ".join(f"v{s['version']}:{s['weight']}" for s in state["splits"])
    return f"v{state['version']}" if state.get("version") is not None else "-"


def _when(iso: str | None) -> str:
    """An API time as `YYYY-MM-DD HH:MM:SS` (UTC): tables stay narrow."""
    return iso[:19].replace("T", " ") if iso else ""


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def _print_diff(unified: str) -> None:
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in unified.splitlines():
        bold = line.startswith(("+++", "---"))
        out.print(Text(line, style="bold" if bold else styles.get(line[:1], "")), highlight=False)


def _pages(client: ApiClient, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = client.get(path, cursor=cursor, **params)
        yield from page["data"]
        cursor = page.get("next")
        if not cursor:
            return


# --- commands ------------------------------------------------------------------------------


@app.command()
def push(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, help="prompt files"),
    message: str | None = typer.Option(None, "--message", "-m", help="version message"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, write nothing"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """Push every prompt file under DIRECTORY; a version is created only where content changed."""
    from agentdeck.sdk.client import AgentdeckAPIError

    files = load_dir(directory)
    rows: list[list[Any]] = []
    failed = 0
    with _api(url, api_key) as client:
        for file in files:
            if dry_run:
                rows.append([file.name, _would(_latest(client, file.name, project), file)])
                continue
            body = {**file.content, "message": message or f"pushed from {directory}"}
            if project:
                body["project"] = project
            try:
                answer = client.request("POST", _path(file.name, "versions"), json=body)
            except AgentdeckAPIError as exc:
                if exc.status == 0:
                    raise
                typer.echo(f"error: {file.path}: {exc.message}", err=True)
                rows.append([file.name, f"error ({exc.status})"])
                failed += 1
                continue
            verb = "created" if answer["created"] else "unchanged"
            rows.append([file.name, f"{verb} v{answer['version']['version']}"])
    _table("dry run: nothing written" if dry_run else None, ["name", "result"], rows)
    if failed:
        _fail(f"{failed} of {len(files)} prompt(s) refused by the server")


def _would(latest: dict[str, Any] | None, file: PromptFile) -> str:
    if latest is None:
        return "would create v1 (new prompt)"
    if canonical(latest["content"]) == file.content:
        return f"unchanged v{latest['version']}"
    return f"would create v{latest['version'] + 1}"


def _existing(root: Path) -> dict[str, tuple[Path, bool]]:
    """name -> (file, whether the file names itself) of the prompt files already in `root`."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in prompt_paths(root):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # rewritten at its default path; push will report it if it stays broken
        named = isinstance(data, dict) and isinstance(data.get("name"), str)
        name = data["name"] if named else path.relative_to(root).with_suffix("").as_posix()
        found.setdefault(name, (path, named))
    return found


def _labelled(client: ApiClient, prompt: dict[str, Any], label: str, project: str | None) -> Any:
    state = (prompt.get("labels") or {}).get(label)
    if not state:
        return None
    version = state.get("version")
    if version is None:
        # A split label serves several versions; the file gets the heaviest (a file is one).
        heaviest = max(state["splits"], key=lambda s: (s["weight"], s["version"]))
        version = heaviest["version"]
        typer.echo(f"note: {prompt['name']}: label {label} is split; wrote v{version}", err=True)
    return client.get(_path(prompt["name"], "versions", version), project=project)


@app.command()
def pull(
    directory: Path = typer.Argument(..., file_okay=False, help="where to write prompt files"),
    label: str | None = typer.Option(
        None, "--label", "-l", help="the labelled version, not latest"
    ),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """Write each prompt's latest (or labelled) version as YAML under DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = _existing(directory)
    rows: list[list[Any]] = []
    with _api(url, api_key) as client:
        for prompt in _pages(client, "/prompts", project=project):
            name = prompt["name"]
            if label is not None:
                version = _labelled(client, prompt, label, project)
            else:
                version = client.get(
                    _path(name, "versions", prompt["latest_version"]), project=project
                )
            if version is None:
                continue
            path, named = existing.get(name, (directory / f"{name}.yaml", False))
            document = slim(version["content"])
            if named:
                document = {"name": name, **document}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_yaml(document), encoding="utf-8")
            rows.append([name, f"v{version['version']}", str(path)])
    _table(None, ["name", "version", "file"], rows)


@app.command()
def diff(
    target: str = typer.Argument(
        ..., metavar="NAME_OR_DIR", help="a prompt NAME (with A and B), or a DIR of files"
    ),
    a: str | None = typer.Argument(None, metavar="A", help="version number or label"),
    b: str | None = typer.Argument(None, metavar="B", help="version number or label"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """Diff two versions or labels of NAME, or DIR's files vs the server (exit 1: differ)."""
    if a is not None and b is not None:
        with _api(url, api_key) as client:
            answer = client.get(_path(target, "diff"), project=project, **{"from": a, "to": b})
        _print_diff(answer["unified"])
        if not answer["unified"].strip():
            out.print(f"{target}: {a} and {b} have the same content", highlight=False)
        return
    if a is not None or not Path(target).is_dir():
        _fail("give NAME A B (two versions or labels), or an existing DIR", EXIT_USAGE)
    if _diff_dir(Path(target), url, api_key, project):
        raise typer.Exit(EXIT_API)


def _diff_dir(root: Path, url: str, api_key: str | None, project: str | None) -> int:
    """Print how the server's latest versions differ from the files; how many differ."""
    files = load_dir(root)
    differ = 0
    with _api(url, api_key) as client:
        for file in files:
            latest = _latest(client, file.name, project)
            if latest is not None and canonical(latest["content"]) == file.content:
                continue
            differ += 1
            theirs = to_yaml(slim(canonical(latest["content"]))) if latest else ""
            ours = to_yaml(slim(file.content))
            where = f"{file.name}@v{latest['version']}" if latest else f"{file.name} (new)"
            lines = difflib.unified_diff(
                theirs.splitlines(keepends=True),
                ours.splitlines(keepends=True),
                where,
                str(file.path),
            )
            _print_diff("".join(lines))
    out.print(f"{differ} of {len(files)} prompt(s) differ from the server", highlight=False)
    return differ


def _splits(text: str) -> list[dict[str, int]]:
    """`3=90,4=10` as split objects; exit 2 when malformed."""
    splits = []
    for part in text.split(","):
        version, sep, weight = part.strip().partition("=")
        if not (sep and version.strip().isdigit() and weight.strip().isdigit()):
            _fail(f"--split {text!r}: give VERSION=WEIGHT pairs, e.g. 3=90,4=10", EXIT_USAGE)
        splits.append({"version": int(version), "weight": int(weight)})
    return splits


@app.command()
def label(
    name: str = typer.Argument(..., metavar="NAME", help="prompt name"),
    label_name: str = typer.Argument(..., metavar="LABEL", help="label, e.g. production"),
    version: int | None = typer.Argument(
        None, metavar="VERSION", help="version the label points at"
    ),
    split: str | None = typer.Option(None, "--split", help="weighted versions, e.g. 3=90,4=10"),
    protect: bool | None = typer.Option(None, "--protect/--no-protect", help="protected label"),
    message: str | None = typer.Option(None, "--message", "-m", help="why it moves"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """Point LABEL of NAME at VERSION, or split it across versions with --split."""
    if (version is None) == (split is None):
        _fail("give either VERSION or --split", EXIT_USAGE)
    body: dict[str, Any] = {"version": version} if split is None else {"splits": _splits(split)}
    if protect is not None:
        body["protected"] = protect
    if message:
        body["message"] = message
    with _api(url, api_key) as client:
        state = client.request(
            "PUT", _path(name, "labels", label_name), params={"project": project}, json=body
        )
    guard = " (protected)" if state.get("protected") else ""
    out.print(f"{name}: {label_name} -> {_target(state)}{guard}", highlight=False)


@app.command()
def rollback(
    name: str = typer.Argument(..., metavar="NAME", help="prompt name"),
    label_name: str = typer.Argument(..., metavar="LABEL", help="label to move back"),
    message: str | None = typer.Option(None, "--message", "-m", help="why it moves back"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """Move LABEL of NAME back to where it pointed before its last move."""
    body = {"message": message} if message else {}
    with _api(url, api_key) as client:
        state = client.request(
            "POST",
            _path(name, "labels", label_name, "rollback"),
            params={"project": project},
            json=body,
        )
    out.print(f"{name}: {label_name} rolled back to {_target(state)}", highlight=False)


@app.command()
def history(
    name: str = typer.Argument(..., metavar="NAME", help="prompt name"),
    label_name: str | None = typer.Option(None, "--label", "-l", help="this label's moves"),
    url: str = UrlOption,
    api_key: str | None = KeyOption,
    project: str | None = ProjectOption,
) -> None:
    """The versions of NAME (newest first), or with --label the moves of that label."""
    with _api(url, api_key) as client:
        if label_name is not None:
            moves = _pages(client, _path(name, "labels", label_name, "history"), project=project)
            rows = [
                [_when(m["at"]), m["actor"], _target(m["from"]), _target(m["to"]), m.get("message")]
                for m in moves
            ]
            _table(f"{name}: {label_name}", ["at (UTC)", "actor", "from", "to", "message"], rows)
            return
        prompt = client.get(_path(name), project=project)
        versions = list(
            _pages(client, _path(name, "versions"), project=project, include_archived=True)
        )
    labels: dict[int, list[str]] = {}
    for label_state, state in (prompt.get("labels") or {}).items():
        for target in state.get("splits") or [state]:
            labels.setdefault(target.get("version"), []).append(label_state)
    rows = [
        [
            f"v{v['version']}" + (" (archived)" if v.get("archived") else ""),
            _when(v["created_at"]),
            v["author"],
            v.get("message"),
            " ".join(sorted(labels.get(v["version"], []))),
        ]
        for v in versions
    ]
    _table(name, ["version", "created (UTC)", "author", "message", "labels"], rows)


@app.command("list")
def list_prompts(
    url: str = UrlOption, api_key: str | None = KeyOption, project: str | None = ProjectOption
) -> None:
    """The prompts of the project, with their latest version and labels."""
    with _api(url, api_key) as client:
        prompts = list(_pages(client, "/prompts", project=project))
    rows = [
        [
            p["name"],
            p["type"],
            f"v{p['latest_version']}",
            " ".join(f"{k}={_target(s)}" for k, s in sorted((p.get("labels") or {}).items())),
            _when(p.get("updated_at")),
        ]
        for p in prompts
    ]
    _table(None, ["name", "type", "latest", "labels", "updated (UTC)"], rows)
