"""Workflows run outside the SDK's sandbox (runtime/worker.py: it cost more CPU
than the orchestration itself), so this check keeps what the sandbox would have caught out
of workflow code: clocks, randomness, sleeping, I/O and the environment, in the workflow
modules and in every project module they import, however indirectly. Workflow code uses
workflow.now(), workflow.sleep(), workflow.random() and activities instead."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[2]
WORKFLOW_CODE = sorted((ROOT / "workflows").glob("*.py"))
PROJECT = {"nightwatch", "storage", "catalog", "platforms", "plans", "workflows", "activities"}
FORBIDDEN_CALLS = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.monotonic",
    "time.perf_counter",
    "time.sleep",
    "asyncio.sleep",
    "uuid.uuid1",
    "uuid.uuid4",
    "os.getenv",
    "os.urandom",
    "open",
    "print",
    "input",
}
FORBIDDEN_NAMES = {"os.environ", "sys.argv"}
FORBIDDEN_MODULES = {
    "random",
    "secrets",
    "threading",
    "subprocess",
    "socket",
    "httpx",
    "requests",
    "sqlalchemy",
    "psycopg",
    "structlog",
    "logging",
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def problems(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and _dotted(node.func) in FORBIDDEN_CALLS:
            found.append(f"{where}: calls {_dotted(node.func)}()")
        elif isinstance(node, ast.Attribute) and _dotted(node) in FORBIDDEN_NAMES:
            found.append(f"{where}: reads {_dotted(node)}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{where}: imports {module}")
    return found


def _project_imports(path: Path) -> set[Path]:
    """The project modules `path` imports (at any depth of its code), as files."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            else []
        )
        for name in names:
            if name.split(".")[0] not in PROJECT:
                continue
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                found.add(Path(spec.origin))
    return found


def workflow_closure() -> set[Path]:
    """The workflow modules and every project module they reach through imports."""
    seen: set[Path] = set()
    todo = list(WORKFLOW_CODE)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += _project_imports(path)
    return seen


def test_workflow_code_and_what_it_imports_have_no_source_of_non_determinism() -> None:
    assert len(WORKFLOW_CODE) >= 3
    modules = sorted(workflow_closure())
    found = [p for path in modules for p in problems(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)
    # The closure is followed, not just the workflow files: what they import is in it.
    names = {str(path.relative_to(ROOT)) for path in modules}
    assert {"workflows/people.py", "nightwatch/masking.py", "catalog/params.py"} <= names
    # Workflow code imports no activity module, and none of the I/O-heavy ones come along.
    assert not any(name.startswith("activities/") for name in names), sorted(names)


def test_the_activities_workflows_name_exist() -> None:
    from runtime.worker import activities
    from workflows.execution import CREATE_EXECUTION, RECORD_EXECUTION, SEND_REMINDER

    served = {fn.__temporal_activity_definition.name for fn in activities("postgresql://x/y")}  # type: ignore[attr-defined]
    assert {CREATE_EXECUTION, RECORD_EXECUTION, SEND_REMINDER} <= served


def test_a_helper_that_reaches_the_environment_is_reported(tmp_path: Path) -> None:
    # What the closure is for: `sealing` read os.environ and called os.urandom.
    sealing = ROOT / "nightwatch" / "sealing.py"
    assert any("os.urandom" in p or "os.environ" in p for p in problems(sealing.read_text(), "s"))
    assert sealing not in workflow_closure()


def test_the_check_catches_what_the_sandbox_would() -> None:
    bad = (
        "import random\nfrom datetime import datetime\nimport os\n"
        "def f():\n    t = datetime.now()\n    k = os.environ['X']\n    return open('f')\n"
    )
    assert sorted(problems(bad, "bad.py")) == [
        "bad.py:1: imports random",
        "bad.py:5: calls datetime.now()",
        "bad.py:6: reads os.environ",
        "bad.py:7: calls open()",
    ]
