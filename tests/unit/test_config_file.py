"""Reading agentdeck.yaml: each problem is a (dotted path, line, message) triple."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentdeck.config_file import read_config_file, validation_problems
from agentdeck.settings import ConfigFileError, Settings, load_settings

Problem = tuple[str, int | None, str]


@pytest.fixture
def config(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[[str], Path]:
    """Writes a config file (no AGENTDECK_* env, empty working directory)."""

    def write(text: str) -> Path:
        path = tmp_path / "agentdeck.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ConfigFileError) as caught:
        load_settings(path)
    assert caught.value.source == str(path)
    return caught.value.problems


def test_error_at_top_level_names_its_line(config: Callable[[str], Path]) -> None:
    path = config("# agentdeck\n\nlog_level: loud\n")
    [(where, line, message)] = problems(path)
    assert (where, line) == ("log_level", 3)
    assert "'debug', 'info', 'warning' or 'error'" in message


def test_error_in_a_nested_mapping_names_its_line(config: Callable[[str], Path]) -> None:
    path = config("server:\n  host: 0.0.0.0\n\n  port: eighty\n")
    assert problems(path) == [
        ("server.port", 4, "Input should be a valid integer, unable to parse string as an integer")
    ]


DEPLOYMENTS = """\
models:
  gpt:
    description: two upstreams
    deployments:
      - model: gpt-4o
        input_price: 2.5
      - model: gpt-4o-mini
        provider: openai
        input_price: 0.00000015
        output_price: 0.6
"""


def test_error_in_a_deployment_list_item_names_its_line(config: Callable[[str], Path]) -> None:
    [(where, line, message)] = problems(config(DEPLOYMENTS))
    assert (where, line) == ("models.gpt.deployments.1.input_price", 9)
    assert "at most 6 decimal places" in message


def test_missing_field_points_at_its_list_item(config: Callable[[str], Path]) -> None:
    path = config("models:\n  gpt:\n    deployments:\n      - model: a\n      - provider: openai\n")
    assert problems(path) == [("models.gpt.deployments.1.model", 5, "Field required")]


def test_unknown_keys_name_their_lines(config: Callable[[str], Path]) -> None:
    path = config(
        "servr:\n"  # 1: unknown, its value a block on the next lines
        "  port: 80\n"
        "kv:\n"
        "  urll: redis://x\n"  # 4
        "models:\n"
        "  gpt:\n"
        "    deployments:\n"
        "      - model: a\n"
        "        pricee: 1\n"  # 9
    )
    assert sorted(problems(path)) == [
        ("kv.urll", 4, "unknown setting"),
        ("models.gpt.deployments.0.pricee", 9, "unknown setting"),
        ("servr", 1, "unknown setting"),
    ]


def test_every_problem_is_reported_at_once(config: Callable[[str], Path]) -> None:
    path = config("server:\n  port: -1\nkv:\n  url: http://cache\nlog_level: 3\n")
    assert sorted((where, line) for where, line, _ in problems(path)) == [
        ("kv.url", 4),
        ("log_level", 5),
        ("server.port", 2),
    ]


def test_duplicate_deployment_id_is_a_problem_of_the_whole_file(
    config: Callable[[str], Path],
) -> None:
    path = config(
        "# models\nmodels:\n  a:\n    deployments:\n      - {model: x, id: one}\n"
        "  b:\n    deployments:\n      - {model: y, id: one}\n"
    )
    assert problems(path) == [("(root)", 2, "Value error, deployment id 'one' is used twice")]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("server:\n  port: 1\n\thost: x\n", 3, "found character '\\t' that cannot start any token"),
        ("server:\n  port: [1, 2\nkv: {}\n", 3, "expected ',' or ']', but got ':'"),
        ("log_level: info\n---\nlog_level: debug\n", 2, "but found another document"),
        ("a: 1\na: 'open\n", 3, "found unexpected end of stream"),
    ],
    ids=["tab", "unclosed list", "two documents", "unclosed quote"],
)
def test_yaml_syntax_error_names_its_line(
    config: Callable[[str], Path], text: str, line: int, message: str
) -> None:
    [(where, found_line, found_message)] = problems(config(text))
    assert (where, found_line) == ("(syntax)", line)
    assert message in found_message


@pytest.mark.parametrize("text", ["- server\n- kv\n", "just words\n", "42\n"])
def test_a_file_that_is_not_a_mapping_is_rejected(config: Callable[[str], Path], text: str) -> None:
    assert problems(config(text)) == [("(root)", 1, "the file must hold a mapping of sections")]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_an_empty_file_gives_the_defaults(config: Callable[[str], Path], text: str) -> None:
    path = config(text)
    assert read_config_file(path).data == {}
    settings = load_settings(path)
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.models == {}


def test_a_missing_file_is_a_problem_naming_the_file(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = tmp_path / "absent.yaml"
    assert problems(missing) == [("(file)", None, "cannot read: No such file or directory")]
    with pytest.raises(ConfigFileError) as caught:
        read_config_file(missing)
    assert str(caught.value) == (
        f"invalid configuration\n{missing}:?: (file): cannot read: No such file or directory"
    )


def test_a_directory_is_a_problem_naming_the_file(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    assert problems(folder) == [("(file)", None, "cannot read: Is a directory")]


def test_a_file_that_is_not_utf8_is_rejected(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("server:\n  host: caf\xe9\n".encode("latin-1"))
    assert problems(path) == [("(file)", None, "not UTF-8 text")]


def test_line_of_finds_the_deepest_node_that_exists(config: Callable[[str], Path]) -> None:
    document = read_config_file(config(DEPLOYMENTS))
    assert document.line_of(()) == 1
    assert document.line_of(("models",)) == 1
    assert document.line_of(("models", "gpt", "deployments")) == 4
    assert document.line_of(("models", "gpt", "deployments", 0)) == 5
    assert document.line_of(("models", "gpt", "deployments", 1, "output_price")) == 10
    # parts missing from the file fall back to the deepest part present
    assert document.line_of(("models", "gpt", "deployments", 1, "timeout_s")) == 7
    assert document.line_of(("models", "gpt", "deployments", 5, "model")) == 4
    assert document.line_of(("server", "port")) == 1


def test_problems_without_a_document_have_no_line() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"server": {"port": "x"}, "bogus": 1})
    assert sorted(validation_problems(caught.value, None)) == [
        ("bogus", None, "unknown setting"),
        (
            "server.port",
            None,
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ]


def test_an_invalid_environment_value_is_not_blamed_on_the_file(
    config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config("server:\n  port: 9000\n")
    monkeypatch.setenv("AGENTDECK_SERVER__PORT", "abc")
    [(where, line, _)] = problems(path)
    assert (where, line) == ("server.port", None)
