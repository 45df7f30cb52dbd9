"""Workflows run outside the SDK's sandbox (runtime/worker.py: it cost more CPU
than the orchestration itself), so this check keeps what the sandbox would have caught out
of workflow code: clocks, randomness, sleeping, I/O and the environment. Workflow code
uses workflow.now(), workflow.sleep(), workflow.random() and activities instead."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOW_CODE = sorted((Path(__file__).parents[2] / "workflows").glob("*.py"))
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


def test_workflow_code_has_no_source_of_non_determinism() -> None:
    assert len(WORKFLOW_CODE) >= 3
    found = [p for path in WORKFLOW_CODE for p in problems(path.read_text(), path.name)]
    assert found == []


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
