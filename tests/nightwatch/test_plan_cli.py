"""`nightwatch plan …` as an author runs it: files in, rows out, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import cli, served_api, token_for

EXAMPLES = Path(__file__).parents[2] / "examples" / "plans"


@pytest.fixture
def nw(catalog_db: str, tmp_path: Path) -> Iterator[Any]:
    """`nightwatch plan …` through an API, signed in as an admin."""
    token = token_for(catalog_db, "author", ["admin"])
    with served_api(catalog_db) as url:
        yield cli(catalog_db, tmp_path, "plan", api=(url, token))


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_validates_and_applies_idempotently(nw: Any, example: str) -> None:
    path = str(EXAMPLES / example)
    assert nw("validate", path).returncode == 0
    assert nw("validate", "--offline", path).returncode == 0
    first = json.loads(nw("apply", path, "--json").stdout)
    second = json.loads(nw("apply", path, "--json").stdout)
    assert (first["outcome"], second["outcome"]) == ("created", "unchanged")
    assert second["version"] == 1


def test_export_then_apply_changes_nothing(nw: Any, tmp_path: Path) -> None:
    path = str(EXAMPLES / "recovery-core-banking-dc-switch.yaml")
    plan = json.loads(nw("apply", path, "--json").stdout)
    out = tmp_path / "exported.yaml"
    assert nw("export", str(plan["id"]), "-o", str(out)).returncode == 0
    assert json.loads(nw("apply", str(out), "--json").stdout)["outcome"] == "unchanged"
    shown = json.loads(nw("show", "core-banking DC switch", "--json").stdout)
    assert [sub["type"] for sub in shown["sub_plans"]] == [
        "DISASTER_SWITCH",
        "DISASTER_RECOVERY",
        "TRAFFIC_BACK",
    ]
    listed = json.loads(nw("list", "--json").stdout)["plans"]
    assert [(p["name"], p["steps"]) for p in listed] == [("core-banking DC switch", 3)]


def test_invalid_file_prints_one_line_per_problem_and_exits_1(nw: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nscene: EMERGENCY\nsteps:\n"
        "  - {name: a, action: TELEPORT}\n"
        "  - {name: b, action: WAIT, params: {seconds: 0}, strategy: {preconfirm: true}}\n"
    )
    result = nw("apply", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {bad}: steps[1].action: unknown action 'TELEPORT'",
        f"error: {bad}: steps[2].strategy.preconfirm: unknown key",
        f"error: {bad}: steps[2].params.seconds: Input should be greater than or equal to 1",
    ]
    assert json.loads(nw("list", "--json").stdout)["plans"] == []
    as_json = json.loads(nw("validate", str(bad), "--json").stdout)
    assert as_json["valid"] is False and len(as_json["problems"]) == 3


def test_missing_file_and_unknown_plan_are_one_line(nw: Any) -> None:
    missing = nw("validate", "/nowhere/plan.yaml")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: /nowhere/plan.yaml: (file): no such file"
    unknown = nw("show", "no such plan")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().count("\n") == 0


def test_schema_is_a_json_schema_of_the_format(nw: Any) -> None:
    schema = json.loads(nw("schema").stdout)
    assert schema["title"] == "Nightwatch plan"
    assert {"name", "scene"} <= set(schema["required"])
