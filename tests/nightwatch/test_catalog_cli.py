"""`nightwatch init|catalog|config` as an operator runs them against a real database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import cli


@pytest.fixture
def nw(db_url: str, tmp_path: Path) -> Any:
    return cli(db_url, tmp_path)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr


def test_catalog_before_any_sync_says_what_to_do(nw: Any) -> None:
    assert "nightwatch init run" in _one_line_error(nw("catalog", "list"))


def test_init_run_then_status_shows_every_task(nw: Any) -> None:
    first = json.loads(nw("init", "run", "--json").stdout)
    assert all(task["ran"] for task in first["tasks"])
    second = json.loads(nw("init", "run", "--json").stdout)
    ran_again = {t["task"] for t in second["tasks"] if t["ran"]}
    assert ran_again == {"database_check"}
    status = json.loads(nw("init", "status", "--json").stdout)
    strategies = {t["task"]: (t["strategy"], len(t["runs"])) for t in status["tasks"]}
    once = ("ONCE_PER_DEPLOYMENT", 1)
    assert strategies == {
        "installation_id": ("ONCE_EVER", 1),
        "system_config": once,
        "feature_switches": once,
        "action_catalog": once,
        "check_kinds": once,
        "database_check": ("EVERY_SERVER", 2),
    }
    text = nw("init", "status").stdout
    assert "action_catalog  [ONCE_PER_DEPLOYMENT]" in text


def test_catalog_list_and_show_explain_visibility(nw: Any) -> None:
    nw("init", "run")
    actions = {a["code"]: a for a in json.loads(nw("catalog", "list", "--json").stdout)["actions"]}
    assert actions["WAIT"]["user_visible"] is True
    assert actions["APP_SCALE_OUT"]["invisible_reason"] == (
        "needs system config platform.dap.base_url (not set)"
    )
    shown = json.loads(nw("catalog", "show", "CONTAINER_INSTANCE_REBUILD", "--json").stdout)
    instance = next(p for p in shown["params"] if p["name"] == "instance")
    assert (instance["option_source"], instance["option_filter"]) == (
        "container_instances",
        "NOT_RUNNING",
    )
    table = nw("catalog", "list").stdout
    assert "APP_SCALE_OUT" in table and "needs system config" in table
    assert "NOPE" in _one_line_error(nw("catalog", "show", "NOPE"))


def test_catalog_lists_and_shows_the_inspection_check_kinds(nw: Any) -> None:
    nw("init", "run")
    listed = json.loads(nw("catalog", "list", "--json").stdout)
    checks = {c["code"]: c for c in listed["checks"]}
    assert {"http", "tcp", "dns", "tls", "prometheus", "postgres", "app_instances"} <= set(checks)
    assert checks["http"]["user_visible"] is True
    assert "cert_days" in {o["name"] for o in checks["http"]["observes"]}
    assert checks["app_instances"]["invisible_reason"] == (
        "needs system config platform.dap.base_url (not set)"
    )
    dsn = next(p for p in checks["postgres"]["params"] if p["name"] == "dsn")
    assert dsn["secret"] is True
    table = nw("catalog", "list").stdout
    assert "Inspection checks" in table and "response_time" in table
    shown = nw("catalog", "show", "tls").stdout
    assert "cert_days > 14" in shown and "server_name" in shown


def test_setting_a_config_makes_its_actions_visible(nw: Any) -> None:
    nw("init", "run")
    result = json.loads(
        nw("config", "set", "platform.dap.base_url", "http://dap.local", "--json").stdout
    )
    assert "APP_SCALE_OUT" in result["visibility_changed"]
    assert "app_instances" in result["visibility_changed"]
    actions = {a["code"]: a for a in json.loads(nw("catalog", "list", "--json").stdout)["actions"]}
    assert actions["APP_SCALE_OUT"]["user_visible"] is True


def test_bad_config_input_is_one_line_naming_the_field(nw: Any) -> None:
    nw("init", "run")
    error = _one_line_error(nw("config", "set", "notification.webhooks", '[{"name": "ops"}]'))
    assert "notification.webhooks.0.url: Field required" in error
    assert "no such system-config key" in _one_line_error(nw("config", "set", "nope", "1"))
    assert "read-only" in _one_line_error(nw("config", "set", "installation.id", "x"))
    configs = json.loads(nw("config", "list", "--json").stdout)["configs"]
    webhooks = next(c for c in configs if c["key"] == "notification.webhooks")
    assert webhooks["set"] is False
