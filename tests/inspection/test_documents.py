"""Inspection plan documents: the examples are valid, the published schema is current, the
reference names every check kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from api.inspections import schema
from catalog.checks import CHECKS
from inspection.model import InspectionInvalid, parse_document

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "inspections").glob("*.yaml")))
def test_every_example_is_valid(path: Path) -> None:
    assert parse_document(yaml.safe_load(path.read_text())).checks


def test_the_published_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "inspection-plan.schema.json").read_text())
    assert committed == schema(), (
        "regenerate: nightwatch inspect schema > docs/inspection-plan.schema.json"
    )


def test_the_reference_lists_every_check_kind() -> None:
    text = (ROOT / "docs" / "inspection.md").read_text()
    assert [c.code for c in CHECKS if f"| `{c.code}`" not in text] == []


def test_a_password_in_a_plan_is_refused_and_env_names_are_taken() -> None:
    doc = {
        "format": "nightwatch/inspection/v1",
        "name": "db",
        "schedule": {"every": "1m"},
        "checks": [{"name": "db", "kind": "postgres", "params": {"dsn": "postgresql://u:pw@h/db"}}],
    }
    with pytest.raises(InspectionInvalid) as caught:
        parse_document(doc)
    assert caught.value.problems[0].path == "checks[0].params.dsn"
    assert "env:NAME" in caught.value.problems[0].reason
    doc["checks"][0]["params"]["dsn"] = "env:CORE_DB_DSN"  # type: ignore[index]
    assert parse_document(doc).checks[0].params["dsn"] == "env:CORE_DB_DSN"


def test_unknown_keys_and_kinds_are_named() -> None:
    doc = {
        "format": "nightwatch/inspection/v1",
        "name": "x",
        "schedule": {"every": "1m", "evry": "2m"},
        "checks": [{"name": "a", "kind": "ping"}],
    }
    with pytest.raises(InspectionInvalid) as caught:
        parse_document(doc)
    assert [(p.path, p.reason) for p in caught.value.problems] == [("schedule.evry", "unknown key")]
    del doc["schedule"]["evry"]  # type: ignore[attr-defined]
    with pytest.raises(InspectionInvalid) as caught:
        parse_document(doc)
    assert caught.value.problems[0].path == "checks[0].kind"
    assert "no check kind 'ping'" in caught.value.problems[0].reason
