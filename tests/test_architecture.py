"""The shape of the code, checked: one place drives executions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PRODUCT = [
    "activities",
    "api",
    "catalog",
    "executions",
    "intake",
    "nightwatch",
    "plans",
    "platforms",
    "simulator",
    "storage",
    "workflows",
]
# Starting, steering and querying executions: only the execution service does it (the
# workflow itself defines these, the worker registers it).
DRIVING = re.compile(
    r"\.start_workflow\(|\.execute_update\(|\.signal\(|\.query\(PlanExecutionWorkflow"
    r"|PlanExecutionWorkflow\.(run|confirm|skip|retry|mark_done|abort|fill_parameters|decide"
    r"|fill|alert_resolved|get_state)\b"
)
ALLOWED = {"executions/service.py", "workflows/execution.py"}


def test_only_the_execution_service_drives_executions() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in ALLOWED
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DRIVING.search(line) and "signal.signal(" not in line
    ]
    assert found == [], "drive executions through executions/service.py:\n" + "\n".join(found)
