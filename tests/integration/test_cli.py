"""The `agentdeck` command line, run as a real subprocess."""

from __future__ import annotations

from pathlib import Path

from agentdeck import __version__
from agentdeck.db.migrate import head_revision
from tests.integration._support import run_cli

VALID = """\
log_level: warning
server:
  port: 8099
  drain_timeout_s: 5
models:
  chat:
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: http://127.0.0.1:9/v1
        input_price: 0.15
        output_price: 0.6
      - provider: fake
        model: slow
fake_models:
  slow:
    chunks: 5
"""

# Problems on lines 4 (unknown key), 10 (negative price) and 14 (bad type).
INVALID = """\
log_level: warning
server:
  port: 8080
  bogus_key: 1
models:
  chat:
    deployments:
      - provider: openai
        model: gpt-4o-mini
        input_price: -1
        output_price: 10
fake_models:
  slow:
    chunks: many
"""

SYNTAX_ERROR = """\
log_level: warning
server:
  port: 8080: 8081
"""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    config = tmp_path / "agentdeck.yaml"
    config.write_text(VALID)
    result = run_cli("config", "check", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{config}: ok (1 model aliases, 2 deployments, 1 fake models)"
    )


def test_config_check_names_each_problem_with_path_and_line(tmp_path: Path) -> None:
    # A long path, as in CI: each problem must still be one line that names its place.
    nested = tmp_path / "a-rather-long-directory-name-as-ci-runners-have" / "configs"
    nested.mkdir(parents=True)
    config = nested / "bad.yaml"
    config.write_text(INVALID)
    result = run_cli("config", "check", str(config), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    lines = _lines(result.stderr)
    assert lines[0] == f"invalid configuration in {config}"
    assert lines[1:] == [
        f"{config}:4: server.bogus_key: unknown setting",
        f"{config}:10: models.chat.deployments.0.input_price: "
        "Input should be greater than or equal to 0",
        f"{config}:14: fake_models.slow.chunks: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


def test_config_check_reports_the_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(SYNTAX_ERROR)
    result = run_cli("config", "check", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert _lines(result.stderr) == [
        f"invalid configuration in {config}",
        f"{config}:3: (syntax): mapping values are not allowed here",
    ]


def test_config_check_on_a_missing_file(tmp_path: Path) -> None:
    result = run_cli("config", "check", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "nowhere.yaml: (file): cannot read: No such file or directory" in result.stderr


def test_serve_with_a_bad_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(INVALID)
    result = run_cli("serve", "--config", str(config), "--port", "1", cwd=tmp_path)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert f"{config}:4: server.bogus_key: unknown setting" in _lines(result.stderr)
    assert not (tmp_path / "agentdeck.db").exists()  # nothing was started


def test_migrate_a_fresh_sqlite_file_then_again(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    config = tmp_path / "migrate.yaml"
    config.write_text(f"database:\n  url: sqlite+aiosqlite:///{database}\n")

    first = run_cli("migrate", "--config", str(config), cwd=tmp_path)
    second = run_cli("migrate", "--config", str(config), cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"database migrated from empty to {head_revision()}"
    assert database.is_file()
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"database already at {head_revision()}"


def test_version_prints_package_version_and_schema(tmp_path: Path) -> None:
    result = run_cli("version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"agentdeck {__version__} (schema {head_revision()})"
