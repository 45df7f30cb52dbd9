"""The alert rules and the Grafana dashboard in deploy/: the rules are valid and fire on
what they are for (promtool, from Debian's prometheus package); every series the dashboard
and the rules read is one Nightwatch exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import nightwatch.metrics  # noqa: F401 - the process's metrics

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "nightwatch-rules.yml"
# Read at scrape time by the API (api/app.py waiting_metrics), not in the registry.
SCRAPE_TIME = {
    "nightwatch_waiting_for_person",
    "nightwatch_waiting_for_person_oldest_seconds",
    "nightwatch_waiting_for_person_overdue",
}
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool (Debian's prometheus package) is missing: `make test` installs it")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
    )


def test_the_alert_rules_are_valid_and_fire_on_what_they_are_for() -> None:
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = _promtool("test", "rules", "nightwatch-rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _exported() -> set[str]:
    names = set(SCRAPE_TIME)
    for metric in REGISTRY.collect():
        if metric.name.startswith("nightwatch_"):
            names.add(metric.name)
    return names


def _read_series(text: str) -> set[str]:
    return set(re.findall(r"\b(nightwatch_[a-z_]+)", text))


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_dashboard_and_the_rules_read_only_series_nightwatch_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "nightwatch-dashboard.json").read_text())
    expressions = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    read = _read_series(expressions) | _read_series(RULES.read_text())
    exported = _exported()
    unknown = sorted(name for name in read if _base(name) not in exported and name not in exported)
    assert unknown == [], f"series nobody exports: {unknown}"
    assert len(dashboard["panels"]) >= 12
