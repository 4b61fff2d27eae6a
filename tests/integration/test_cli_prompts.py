"""`agentdeck prompts` as a user runs it: real CLI processes against a real server that
requires keys. Files are pushed, listed, labelled (and split), traced, diffed, rolled back,
pulled, and pushed again without creating anything; bad files are refused locally with file
and line, server refusals name the file, and the exit codes say which is which."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agentdeck.identity.keys import new_key
from tests.conftest import owner_bootstrap
from tests.integration._support import AGENTDECK, ServerProcess, clean_env, start_gateway

OWNER_KEY = new_key("test")
KEY_ENV = "CLI_PROMPTS_TEST_OWNER_KEY"  # not AGENTDECK_*: the server's environment keeps it

TRIAGE = """\
type: chat
params:
  temperature: 0.2
variables:
  type: object
  properties:
    ticket: {type: string}
  required: [ticket]
messages:
  - role: system
    content: |
      You triage support tickets.
      Be terse.
  - role: user
    content: "Ticket: {{ ticket }}"
"""
GREET = 'template: "Hello {{ who }}"\n'
NAMED = """\
name: team/custom
type: text
template: Fixed text.
metadata: {owner: team}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with identity on and the owner key installed, for the module."""
    os.environ[KEY_ENV] = OWNER_KEY
    workdir = tmp_path_factory.mktemp("prompts-cli")
    proc = start_gateway(workdir, {"identity": owner_bootstrap(KEY_ENV)}, name="prompts-cli")
    try:
        proc.wait_ready()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()
        del os.environ[KEY_ENV]


def _cli(
    server: ServerProcess, *args: str, cwd: Path, key: str | None = OWNER_KEY
) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "AGENTDECK_URL": server.url, "COLUMNS": "200"}
    if key is not None:
        env["AGENTDECK_API_KEY"] = key
    return subprocess.run(
        [*AGENTDECK, "prompts", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _ok(server: ServerProcess, *args: str, cwd: Path) -> str:
    result = _cli(server, *args, cwd=cwd)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _api(server: ServerProcess, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{server.url}/api/v1{path}",
        params=params,
        headers={"authorization": f"Bearer {OWNER_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _rows(table: str) -> dict[str, list[str]]:
    """A rich table's body rows by first cell."""
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) > 1 and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_push_label_history_diff_rollback_pull_and_push_again(
    server: ServerProcess, tmp_path: Path
) -> None:
    files = {"support/triage.yaml": TRIAGE, "greet.yml": GREET, "named.yaml": NAMED}
    src = _write(tmp_path / "prompts", files)
    # Hidden directories are never read as prompts.
    _write(src, {".github/workflow.yaml": "on: push\n"})
    pushed = _rows(_ok(server, "push", "prompts", cwd=tmp_path))
    assert pushed == {
        "greet": ["created v1"],
        "support/triage": ["created v1"],
        "team/custom": ["created v1"],
    }
    again = _rows(_ok(server, "push", "prompts", cwd=tmp_path))
    assert set(map(tuple, again.values())) == {("unchanged v1",)}
    listed = _rows(_ok(server, "list", cwd=tmp_path))
    assert listed["support/triage"][:2] == ["chat", "v1"]
    assert listed["greet"][:2] == ["text", "v1"]
    version = _api(server, "/prompts/support/triage/versions/1")
    assert version["message"] == "pushed from prompts"
    assert (
        version["content"]["messages"][0]["content"] == "You triage support tickets.\nBe terse.\n"
    )
    assert _api(server, "/prompts/team/custom/versions/1")["content"]["metadata"] == {
        "owner": "team"
    }

    triage = src / "support" / "triage.yaml"
    triage.write_text(TRIAGE.replace("Be terse.", "Be very terse."), encoding="utf-8")
    dry = _ok(server, "push", "prompts", "--dry-run", cwd=tmp_path)
    assert "dry run: nothing written" in dry
    assert _rows(dry)["support/triage"] == ["would create v2"]
    assert _rows(dry)["greet"] == ["unchanged v1"]
    assert _api(server, "/prompts/support/triage")["latest_version"] == 1
    differ = _cli(server, "diff", "prompts", cwd=tmp_path)
    assert differ.returncode == 1, differ.stderr
    assert "--- support/triage@v1" in differ.stdout
    assert "-    Be terse." in differ.stdout
    assert "+    Be very terse." in differ.stdout
    assert "1 of 3 prompt(s) differ from the server" in differ.stdout
    pushed = _rows(_ok(server, "push", "prompts", "-m", "terser", cwd=tmp_path))
    assert pushed["support/triage"] == ["created v2"]
    assert _api(server, "/prompts/support/triage/versions/2")["message"] == "terser"

    assert "support/triage: production -> v1 (protected)" in _ok(
        server, "label", "support/triage", "production", "1", cwd=tmp_path
    )
    split = _ok(
        server, "label", "support/triage", "production", "--split", "1=90,2=10", "-m", "canary",
        cwd=tmp_path,
    )  # fmt: skip
    assert "production -> v1:90 v2:10" in split
    state = _api(server, "/prompts/support/triage")["labels"]["production"]
    assert state["splits"] == [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]

    versions = _rows(_ok(server, "history", "support/triage", cwd=tmp_path))
    assert versions["v2"][1:] == ["user:owner", "terser", "production"]
    assert versions["v1"][1:] == ["user:owner", "pushed from prompts", "production"]
    moves = _ok(server, "history", "support/triage", "--label", "production", cwd=tmp_path)
    body = [line for line in moves.splitlines() if "user:owner" in line]
    assert len(body) == 2
    assert "v1:90 v2:10" in body[0]
    assert "canary" in body[0]

    diff = _ok(server, "diff", "support/triage", "1", "2", cwd=tmp_path)
    assert "--- support/triage@1" in diff
    assert any(line.startswith("-") and "Be terse." in line for line in diff.splitlines())
    assert any(line.startswith("+") and "Be very terse." in line for line in diff.splitlines())
    rolled = _ok(server, "rollback", "support/triage", "production", cwd=tmp_path)
    assert "support/triage: production rolled back to v1" in rolled
    assert _api(server, "/prompts/support/triage")["labels"]["production"]["version"] == 1
    assert "have the same content" in _ok(
        server, "diff", "support/triage", "production", "1", cwd=tmp_path
    )

    pulled = _rows(_ok(server, "pull", "pulled", cwd=tmp_path))
    assert pulled["support/triage"][0] == "v2"
    written = (tmp_path / "pulled" / "support" / "triage.yaml").read_text()
    assert written.startswith("type: chat\nparams:\n  temperature: 0.2\n")
    assert "  content: |\n    You triage support tickets.\n    Be very terse.\n" in written
    assert yaml.safe_load((tmp_path / "pulled" / "team" / "custom.yaml").read_text()) == {
        "type": "text",
        "template": "Fixed text.",
        "metadata": {"owner": "team"},
    }
    assert set(map(tuple, _rows(_ok(server, "push", "pulled", cwd=tmp_path)).values())) == {
        ("unchanged v1",),
        ("unchanged v2",),
    }
    assert "0 of 3 prompt(s) differ" in _ok(server, "diff", "pulled", cwd=tmp_path)

    # Pulled over the source: files keep their place and their `name`, nothing is duplicated.
    before = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.y*ml"))
    _ok(server, "pull", "prompts", cwd=tmp_path)
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.y*ml")) == before
    assert yaml.safe_load((src / "named.yaml").read_text())["name"] == "team/custom"
    unchanged = _rows(_ok(server, "push", "prompts", cwd=tmp_path))
    assert sorted(unchanged) == ["greet", "support/triage", "team/custom"]
    assert all(result[0].startswith("unchanged") for result in unchanged.values())

    labelled = _rows(_ok(server, "pull", "prod", "--label", "production", cwd=tmp_path))
    assert labelled == {"support/triage": ["v1", "prod/support/triage.yaml"]}
    assert "Be terse." in (tmp_path / "prod" / "support" / "triage.yaml").read_text()


def test_invalid_files_are_reported_with_file_and_line_and_nothing_is_sent(
    server: ServerProcess, tmp_path: Path
) -> None:
    bad = {
        "a.yaml": 'type: chat\nmessages:\n  - role: user\n    content: "{{ x "\n',
        "b.yaml": "a: [1\n",
        "c.yaml": "type: chat\nmessages:\n  - role: robot\n    content: hi\n",
        "d.yaml": 'template: "{{ y }}"\nvariables:\n  properties:\n    x: {}\n',
        "e.yaml": "template: hi\ncolour: blue\n",
        "ok.yaml": "template: fine\n",
        "dup.yaml": "name: ok\ntemplate: twin\n",
    }
    _write(tmp_path / "bad", bad)
    result = _cli(server, "push", "bad", cwd=tmp_path)
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    # The server's own check, run before sending: the same words as its 400.
    assert errors[0].startswith("error: bad/a.yaml:4: messages.0.content does not compile: ")
    assert errors[1].startswith("error: bad/b.yaml:2: not YAML")
    assert errors[2] == (
        "error: bad/c.yaml:3: messages.0.role: role must be one of system, developer, user, "
        "assistant"
    )
    assert errors[3] == (
        "error: bad/d.yaml:4: the template uses variables the schema does not declare: y"
    )
    assert errors[4].startswith("error: bad/e.yaml:2: colour: unknown field 'colour'")
    assert "name 'ok' is also bad/dup.yaml" in errors[5]
    assert errors[-1] == "error: 6 invalid prompt file(s) in bad; nothing was sent"
    assert result.stdout == ""
    names = {p["name"] for p in _api(server, "/prompts")["data"]}
    assert "ok" not in names
    assert _cli(server, "push", "nowhere", cwd=tmp_path).returncode == 2
    (tmp_path / "empty").mkdir()
    empty = _cli(server, "push", "empty", cwd=tmp_path)
    assert (empty.returncode, empty.stderr) == (
        2,
        "error: no prompt files (*.yaml, *.yml) in empty\n",
    )


def test_server_refusals_exit_1_and_name_the_problem(server: ServerProcess, tmp_path: Path) -> None:
    _write(
        tmp_path / "p", {"fine.yaml": "template: fine\n", "empty-model.yaml": GREET + 'model: ""\n'}
    )
    pushed = _cli(server, "push", "p", cwd=tmp_path)
    assert pushed.returncode == 1
    assert "error: p/empty-model.yaml: " in pushed.stderr
    assert "model" in pushed.stderr
    assert pushed.stderr.splitlines()[-1] == "error: 1 of 2 prompt(s) refused by the server"
    assert _rows(pushed.stdout) == {"empty-model": ["error (400)"], "fine": ["created v1"]}

    missing = _cli(server, "label", "fine", "production", "9", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no version 9" in missing.stderr
    assert _cli(server, "rollback", "fine", "staging", cwd=tmp_path).returncode == 1
    unknown = _cli(server, "history", "nope", cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr.startswith("error: no prompt 'nope'")) == (1, True)
    anonymous = _cli(server, "list", cwd=tmp_path, key=None)
    assert anonymous.returncode == 1
    assert "[401 " in anonymous.stderr
    down = _cli(server, "list", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert down.returncode == 1
    assert down.stderr.startswith("error: agentdeck at http://127.0.0.1:9 unreachable")

    usage = _cli(server, "label", "fine", "production", "1", "--split", "1=50", cwd=tmp_path)
    assert (usage.returncode, usage.stderr) == (2, "error: give either VERSION or --split\n")
    bad_split = _cli(server, "label", "fine", "production", "--split", "1:50", cwd=tmp_path)
    assert bad_split.returncode == 2
    assert _cli(server, "diff", "fine", "1", cwd=tmp_path).returncode == 2
