"""Logging: JSON lines in production, console in development, the execution id on every line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging
from nightwatch.config import load_settings
from nightwatch.logs import bind_execution, configure_logging, get_logger
configure_logging(load_settings())
# What temporalio's workflow logger attaches to every record it emits:
logging.getLogger("temporalio.workflow").info(
    "step started", extra={"temporal_workflow": {"workflow_id": "exec-42",
                                                 "workflow_type": "PlanExecutionWorkflow"}})
bind_execution("exec-43")
get_logger("nightwatch.test").info("node confirmed", node="n1", api_token="abc123")
"""


def _run(tmp_path: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**base, **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    return result.stderr


def test_production_writes_json_lines_with_the_execution_id(tmp_path: Path) -> None:
    output = _run(tmp_path, NIGHTWATCH_LOG_FORMAT="json")
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["event"] for line in lines] == ["step started", "node confirmed"]
    assert lines[0]["execution_id"] == "exec-42"
    assert lines[0]["workflow_type"] == "PlanExecutionWorkflow"
    assert lines[1]["execution_id"] == "exec-43"
    assert {"timestamp", "level", "logger"} <= lines[1].keys()


def test_credentials_are_masked_in_log_lines(tmp_path: Path) -> None:
    output = _run(tmp_path, NIGHTWATCH_LOG_FORMAT="json")
    assert "abc123" not in output
    assert json.loads(output.splitlines()[1])["api_token"] == "***"


def test_development_writes_readable_console_lines(tmp_path: Path) -> None:
    output = _run(tmp_path)
    lines = output.splitlines()
    assert len(lines) == 2
    assert "node confirmed" in lines[1]
    assert "execution_id=exec-43" in lines[1]
    assert not lines[1].startswith("{")


def test_apprise_never_logs_webhook_urls_even_at_debug(tmp_path: Path) -> None:
    script = """
import logging, apprise
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
configure_logging(load_settings(log_level="DEBUG"))
plugin = apprise.Apprise.instantiate("dingtalk://SECsecret42@tokentoken42/")
plugin.notify_url = "http://127.0.0.1:1/robot/send?access_token={token}"
plugin.notify(body="b", title="t")
"""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=base, capture_output=True, text=True, timeout=60
    )
    printed = result.stdout + result.stderr
    assert "tokentoken42" not in printed and "SECsecret42" not in printed, printed
