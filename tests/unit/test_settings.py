"""The settings tree: defaults, the three layers over them, and what each section accepts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentdeck.config_file import ConfigFileError as ConfigFileErrorFromModule
from agentdeck.kv import MemoryKV, create_kv
from agentdeck.settings import (
    ConfigFileError,
    DatabaseSettings,
    DeploymentSettings,
    KVSettings,
    Settings,
    load_settings,
    read_credential,
)

Build = Callable[..., Settings]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(build: Callable[[], object]) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigFileError) as caught:
        build()
    return caught.value.problems


def one_deployment(**values: Any) -> dict[str, Any]:
    return {"gpt": {"deployments": [{"model": "gpt-4o", **values}]}}


# defaults and where the file comes from


def test_defaults(make_settings: Build) -> None:
    settings = load_settings(None)  # make_settings cleared AGENTDECK_* and moved to an empty dir
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.server.max_body_bytes == 10 * 1024 * 1024
    assert settings.server.access_log is False
    assert settings.database.url == "sqlite+aiosqlite:///./agentdeck.db"
    assert settings.database.schema_name is None
    assert (settings.database.connect_attempts, settings.database.pool_size) == (5, 5)
    assert settings.kv.url is None
    assert settings.kv.cache_max_entries == 10_000
    assert isinstance(create_kv(settings.kv), MemoryKV)
    assert settings.gateway.builtin_fake is True
    assert settings.log_level == "info"
    assert settings.models == {}
    assert settings.fake_models == {}


def test_agentdeck_yaml_in_the_working_directory_is_read(
    make_settings: Build, tmp_path: Path
) -> None:
    write(tmp_path / "agentdeck.yaml", "server:\n  port: 9001\n")
    assert load_settings(None).server.port == 9001


def test_agentdeck_config_picks_the_file(
    make_settings: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "agentdeck.yaml", "server:\n  port: 9001\n")
    named = write(tmp_path / "elsewhere.yaml", "server:\n  port: 9002\n")
    monkeypatch.setenv("AGENTDECK_CONFIG", str(named))
    assert load_settings(None).server.port == 9002
    explicit = write(tmp_path / "explicit.yaml", "server:\n  port: 9003\n")
    assert load_settings(explicit).server.port == 9003


def test_agentdeck_config_naming_a_missing_file_is_an_error(
    make_settings: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("AGENTDECK_CONFIG", str(missing))
    with pytest.raises(ConfigFileError) as caught:
        load_settings(None)
    assert caught.value.source == str(missing)
    assert caught.value.problems == [("(file)", None, "cannot read: No such file or directory")]


# precedence: overrides > environment > file > defaults


def test_each_layer_wins_over_the_ones_below(
    make_settings: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "layers.yaml",
        "log_level: warning\n"
        "server:\n"
        "  host: 0.0.0.0\n"
        "  port: 9000\n"
        "  drain_timeout_s: 5\n"
        "  access_log: true\n"
        "kv:\n"
        "  cache_max_entries: 50\n",
    )
    monkeypatch.setenv("AGENTDECK_SERVER__PORT", "9100")
    monkeypatch.setenv("AGENTDECK_SERVER__DRAIN_TIMEOUT_S", "7.5")
    monkeypatch.setenv("AGENTDECK_LOG_LEVEL", "error")
    settings = load_settings(config, server={"port": 9200})
    assert settings.server.port == 9200  # override over env over file
    assert settings.server.drain_timeout_s == 7.5  # env over file
    assert settings.log_level == "error"  # env over file
    assert settings.server.host == "0.0.0.0"  # file over default
    assert settings.server.access_log is True  # file over default
    assert settings.kv.cache_max_entries == 50  # file over default
    assert settings.server.max_body_bytes == 10 * 1024 * 1024  # default
    without_override = load_settings(config)
    assert without_override.server.port == 9100
    monkeypatch.delenv("AGENTDECK_SERVER__PORT")
    assert load_settings(config).server.port == 9000


def test_environment_values_are_parsed_into_their_types(
    make_settings: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTDECK_SERVER__ACCESS_LOG", "true")
    monkeypatch.setenv("AGENTDECK_KV__URL", "redis://cache:6379/2")
    monkeypatch.setenv("AGENTDECK_GATEWAY__BUILTIN_FAKE", "false")
    settings = make_settings()
    assert settings.server.access_log is True
    assert settings.kv.url == "redis://cache:6379/2"
    assert settings.gateway.builtin_fake is False


def test_a_bad_environment_value_names_its_setting(
    make_settings: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTDECK_SERVER__PORT", "70000")
    problems = problems_of(make_settings)
    assert [(path, line) for path, line, _ in problems] == [("server.port", None)]
    assert "65535" in problems[0][2]


# unknown keys


def test_unknown_top_level_key_is_rejected(make_settings: Build) -> None:
    assert problems_of(lambda: make_settings(bogus=1)) == [("bogus", None, "unknown setting")]


def test_unknown_nested_key_is_rejected(
    make_settings: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = problems_of(lambda: make_settings(server={"prot": 80}))
    assert problems == [("server.prot", None, "unknown setting")]
    monkeypatch.setenv("AGENTDECK_DATABASE__POOLSIZE", "3")
    problems = problems_of(make_settings)
    assert problems == [("database.poolsize", None, "unknown setting")]


def test_log_level_must_be_a_known_level(make_settings: Build) -> None:
    problems = problems_of(lambda: make_settings(log_level="verbose"))
    assert [path for path, _, _ in problems] == ["log_level"]


# deployments


def test_deployment_ids_default_to_alias_and_index(make_settings: Build) -> None:
    settings = make_settings(
        models={
            "gpt": {
                "deployments": [{"model": "a"}, {"model": "b", "id": "backup"}, {"model": "c"}]
            },
            "small": {"deployments": [{"model": "d"}]},
        }
    )
    ids = {alias: [d.id for d in spec.deployments] for alias, spec in settings.models.items()}
    assert ids == {"gpt": ["gpt/0", "backup", "gpt/2"], "small": ["small/0"]}


@pytest.mark.parametrize(
    ("models", "duplicate"),
    [
        (
            {
                "a": {"deployments": [{"model": "x", "id": "same"}]},
                "b": {"deployments": [{"model": "y", "id": "same"}]},
            },
            "same",
        ),
        ({"gpt": {"deployments": [{"model": "x"}, {"model": "y", "id": "gpt/0"}]}}, "gpt/0"),
    ],
    ids=["explicit twice", "explicit equals a default"],
)
def test_duplicate_deployment_ids_are_rejected(
    make_settings: Build, models: dict[str, Any], duplicate: str
) -> None:
    problems = problems_of(lambda: make_settings(models=models))
    assert len(problems) == 1
    assert f"deployment id {duplicate!r} is used twice" in problems[0][2]


def test_an_alias_needs_at_least_one_deployment(make_settings: Build) -> None:
    problems = problems_of(lambda: make_settings(models={"gpt": {"deployments": []}}))
    assert [(path, message) for path, _, message in problems] == [
        ("models.gpt", "Value error, needs deployments, or rules with a default alias")
    ]


@pytest.mark.parametrize(
    ("price", "micros"),
    [
        (Decimal("2.5"), 2_500_000),
        (Decimal("0.000001"), 1),
        ("0.15", 150_000),
        (10, 10_000_000),
        (0.1, 100_000),
        (Decimal(0), 0),
        ("1e-6", 1),
    ],
)
def test_prices_become_integer_micro_dollars_per_million_tokens(price: object, micros: int) -> None:
    deployment = DeploymentSettings(model="m", input_price=price, output_price=price)
    assert isinstance(deployment.input_price, Decimal)
    assert deployment.input_micros_per_mtok == micros
    assert deployment.output_micros_per_mtok == micros
    assert isinstance(deployment.input_micros_per_mtok, int)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (Decimal("0.0000001"), "at most 6 decimal places"),
        ("2.0000005", "at most 6 decimal places"),
        (0.1 + 0.2, "at most 6 decimal places"),
        (Decimal("-0.5"), "greater than or equal to 0"),
        ("-1", "greater than or equal to 0"),
        ("NaN", "finite"),
    ],
)
def test_bad_prices_are_rejected(make_settings: Build, price: object, message: str) -> None:
    problems = problems_of(lambda: make_settings(models=one_deployment(output_price=price)))
    assert [(path, line) for path, line, _ in problems] == [
        ("models.gpt.deployments.0.output_price", None)
    ]
    assert message in problems[0][2]


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "_PRIVATE", "key2", "A"])
def test_api_key_env_accepts_variable_names(name: str) -> None:
    assert DeploymentSettings(model="m", api_key_env=name).api_key_env == name


@pytest.mark.parametrize(
    "name", ["sk-abc 123", "sk-proj-AbC123", "", "9LIVES", "MY KEY", "ÄPI_KEY", "$OPENAI_KEY"]
)
def test_api_key_env_rejects_what_is_not_a_variable_name(make_settings: Build, name: str) -> None:
    problems = problems_of(lambda: make_settings(models=one_deployment(api_key_env=name)))
    assert problems == [
        (
            "models.gpt.deployments.0.api_key_env",
            None,
            "Value error, api_key_env is the NAME of an environment variable, not a key",
        )
    ]


def test_read_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_TEST_CRED", "sk-secret")
    monkeypatch.setenv("AGENTDECK_TEST_EMPTY_CRED", "")
    monkeypatch.delenv("AGENTDECK_TEST_UNSET_CRED", raising=False)
    assert read_credential("AGENTDECK_TEST_CRED") == "sk-secret"
    assert read_credential("AGENTDECK_TEST_EMPTY_CRED") is None
    assert read_credential("AGENTDECK_TEST_UNSET_CRED") is None


# kv and database sections


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("rediss://user:pw@cache:6380/1", "rediss://user:pw@cache:6380/1"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("", None),
        (None, None),
    ],
)
def test_kv_url_accepts_redis(url: str | None, expected: str | None) -> None:
    assert KVSettings(url=url).url == expected


@pytest.mark.parametrize("url", ["http://cache:6379", "memcached://cache", "localhost:6379"])
def test_kv_url_rejects_anything_but_redis(make_settings: Build, url: str) -> None:
    problems = problems_of(lambda: make_settings(kv={"url": url}))
    assert [path for path, _, _ in problems] == ["kv.url"]
    assert "redis://" in problems[0][2]


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgresql://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?sslmode=require"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:///./data/agentdeck.db", "sqlite+aiosqlite:///./data/agentdeck.db"),
        ("sqlite:////var/lib/agentdeck.db", "sqlite+aiosqlite:////var/lib/agentdeck.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_is_normalized_to_the_async_driver(url: str, normalized: str) -> None:
    assert DatabaseSettings(url=url).url == normalized


@pytest.mark.parametrize(
    "url", ["mysql://u@db/app", "postgresql+psycopg2://u@db/app", "sqlite+pysqlite:///x.db"]
)
def test_unsupported_database_url_is_rejected_with_a_clear_message(
    make_settings: Build, url: str
) -> None:
    problems = problems_of(lambda: make_settings(database={"url": url}))
    assert problems == [
        (
            "database.url",
            None,
            "Value error, database url must be sqlite+aiosqlite://... or postgresql://...",
        )
    ]


@pytest.mark.parametrize("schema", ["bad-schema", "1abc", "a" * 64, ""])
def test_schema_name_must_be_a_plain_identifier(make_settings: Build, schema: str) -> None:
    problems = problems_of(lambda: make_settings(database={"schema_name": schema}))
    assert [path for path, _, _ in problems] == ["database.schema_name"]


def test_config_file_error_is_one_class() -> None:
    assert ConfigFileError is ConfigFileErrorFromModule
    error = ConfigFileError("agentdeck.yaml", [("server.port", 3, "too big"), ("x", None, "y")])
    assert str(error) == (
        "invalid configuration\nagentdeck.yaml:3: server.port: too big\nagentdeck.yaml:?: x: y"
    )
