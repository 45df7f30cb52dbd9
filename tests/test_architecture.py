"""The shape of the code, checked: layers import only downwards (the kernel imports
nothing above it), and one place drives executions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Bottom to top (docs/architecture.md). A package imports its own layer and those below.
LAYERS = [
    ["nightwatch"],  # the kernel: errors, settings, logs, Temporal client, codec, sealing
    ["storage", "platforms", "simulator"],
    ["catalog", "identity"],
    ["plans", "inspection"],
    ["workflows", "activities"],  # a workflow references its activities, as samples do
    ["executions", "risk"],
    ["audit", "runtime", "api", "intake", "console"],
    ["cli", "stack"],
]
LAYER = {package: level for level, packages in enumerate(LAYERS) for package in packages}
# The program's entry point (`python -m nightwatch`) is no module anyone imports.
ENTRY_POINTS = {"nightwatch/__main__.py"}
PRODUCT = sorted(LAYER)
# Starting, steering and querying executions: only the execution service does it (the
# workflow itself defines these, the worker registers it).
DRIVING = re.compile(
    r"\.start_workflow\(|\.execute_update\(|\.signal\(|\.query\(PlanExecutionWorkflow"
    r"|PlanExecutionWorkflow\.(run|confirm|skip|retry|mark_done|abort|fill_parameters|decide"
    r"|fill|alert_resolved|get_state)\b"
)
# Inspection runs are started by their service (Schedules, run-now, re-checks) alike.
ALLOWED = {"executions/service.py", "workflows/execution.py", "executions/inspections.py"}


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


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_no_package_imports_a_layer_above_its_own() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(LAYER), "place every package in LAYERS"
    wrong = []
    for package, level in LAYER.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)) in ENTRY_POINTS:
                continue
            for line, module in _imports(path):
                top = module.split(".")[0]
                if LAYER.get(top, -1) > level:
                    wrong.append(
                        f"{path.relative_to(ROOT)}:{line} imports {module} "
                        f"(layer {LAYER[top]} above {level})"
                    )
    assert wrong == [], "\n".join(wrong)


def test_worker_py_and_the_tests_worker_set_the_same_options() -> None:
    """`worker.py` spells its Worker out as Temporal's samples do; `build_worker` (tests,
    benchmarks) must build the same one: a worker option added to one only fails here."""

    def options(path: Path, function: str) -> set[str]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
                for call in ast.walk(node):
                    if (
                        isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Name)
                        and call.func.id == "Worker"
                    ):
                        return {k.arg for k in call.keywords if k.arg}
        raise AssertionError(f"no Worker(...) call in {path}:{function}")

    assert options(ROOT / "worker.py", "main") == options(
        ROOT / "runtime/worker.py", "build_worker"
    )
