"""Settings: environment, TOML file, precedence, and one clear line for a wrong or missing one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nightwatch.config import load_settings, unknown_environment_settings
from nightwatch.errors import SettingsError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("NIGHTWATCH_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_point_at_the_local_stack() -> None:
    settings = load_settings()
    assert settings.effective_temporal_address == "127.0.0.1:7233"
    assert settings.effective_database_url.endswith("@127.0.0.1:55432/nightwatch")
    assert settings.effective_log_format == "console"
    assert settings.task_queue == "nightwatch"


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_TEMPORAL_PORT", "7300")
    monkeypatch.setenv("NIGHTWATCH_TASK_QUEUE", "ops")
    settings = load_settings()
    assert settings.effective_temporal_address == "127.0.0.1:7300"
    assert settings.task_queue == "ops"


@pytest.mark.parametrize("variable", ["DATABASE_URL", "NIGHTWATCH_DATABASE_URL"])
def test_database_url_is_read_from_either_name(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "postgresql://u@db.bank:5432/nw")
    settings = load_settings()
    assert settings.effective_database_url == "postgresql://u@db.bank:5432/nw"
    assert not settings.uses_embedded_postgres


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "ops.toml"
    config.write_text('task_queue = "from-file"\ntemporal_namespace = "bank"\n')
    monkeypatch.setenv("NIGHTWATCH_CONFIG", str(config))
    monkeypatch.setenv("NIGHTWATCH_TASK_QUEUE", "from-env")
    settings = load_settings()
    assert settings.temporal_namespace == "bank"
    assert settings.task_queue == "from-env"


def test_default_toml_file_in_the_working_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "nightwatch.toml").write_text("postgres_port = 60000\n")
    assert load_settings().postgres_port == 60000


@pytest.mark.parametrize(
    ("variable", "value", "named", "reason"),
    [
        ("NIGHTWATCH_TEMPORAL_PORT", "seven", "NIGHTWATCH_TEMPORAL_PORT", "valid integer"),
        ("NIGHTWATCH_TEMPORAL_UI_PORT", "70000", "NIGHTWATCH_TEMPORAL_UI_PORT", "65535"),
        ("NIGHTWATCH_ENV", "staging", "NIGHTWATCH_ENV", "development"),
        ("NIGHTWATCH_LOG_LEVEL", "LOUD", "NIGHTWATCH_LOG_LEVEL", "INFO"),
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL", "postgresql://"),
        ("NIGHTWATCH_TEMPORAL_TLS_CA", "/nope/ca.pem", "NIGHTWATCH_TEMPORAL_TLS_CA", "exist"),
    ],
)
def test_wrong_setting_is_named_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.path == named
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


def test_production_requires_a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_ENV", "production")
    monkeypatch.setenv("NIGHTWATCH_TEMPORAL_ADDRESS", "temporal.bank:7233")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.path == "DATABASE_URL"
    assert "production" in caught.value.reason


def test_production_logs_json_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_ENV", "production")
    monkeypatch.setenv("NIGHTWATCH_TEMPORAL_ADDRESS", "temporal.bank:7233")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nw@db.bank/nw")
    monkeypatch.setenv("NIGHTWATCH_PAYLOAD_KEYS", f"k1:{'A' * 43}=")
    assert load_settings().effective_log_format == "json"


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_CONFIG", "/nowhere/nightwatch.toml")
    with pytest.raises(SettingsError, match="NIGHTWATCH_CONFIG"):
        load_settings()


def test_typo_in_a_variable_name_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_TEMPORL_PORT", "1")
    monkeypatch.setenv("NIGHTWATCH_TEST_ANYTHING", "1")
    assert unknown_environment_settings() == ["NIGHTWATCH_TEMPORL_PORT"]


def test_database_password_is_never_echoed_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://admin:s3cr3t@db/x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "s3cr3t" not in str(caught.value)


def test_cli_prints_one_line_and_exits_2_on_a_wrong_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env["NIGHTWATCH_TEMPORAL_PORT"] = "seven"
    result = subprocess.run(
        [sys.executable, "-m", "nightwatch", "health"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: NIGHTWATCH_TEMPORAL_PORT:")
    assert "Traceback" not in result.stderr


def _nightwatch(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env.pop("DATABASE_URL", None)
    env.update(NIGHTWATCH_POSTGRES_PORT="1", NIGHTWATCH_TEMPORAL_PORT="1", **extra)
    return subprocess.run(
        [sys.executable, "-m", "nightwatch", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_an_unknown_variable_is_warned_about_on_stderr_and_json_output_stays_json(
    tmp_path: Path,
) -> None:
    result = _nightwatch(tmp_path, "health", "--json", NIGHTWATCH_TEMPORL_PORT="1")
    assert json.loads(result.stdout)["ok"] is False  # nothing runs; the output is still JSON
    assert "unknown setting ignored" in result.stderr
    assert "NIGHTWATCH_TEMPORL_PORT" in result.stderr


def test_a_negative_list_limit_is_refused_by_the_cli(tmp_path: Path) -> None:
    result = _nightwatch(tmp_path, "list", "--limit", "-1")
    assert result.returncode == 2
    assert "Invalid value for '--limit'" in result.stderr and "Traceback" not in result.stderr
