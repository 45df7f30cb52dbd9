"""Random bad input to the CLI and the plan API (the intake: tests/intake/test_fuzz.py):
never a 5xx, never a traceback or an 'unexpected' error, and a refused input writes nothing."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from temporalio.testing import WorkflowEnvironment

from cli.main import _invoke
from runtime.worker import build_worker
from tests.support import (
    HOSTILE_BODIES,
    Say,
    bearer,
    digest,
    send_fixed_set,
    served_api,
    token_for,
)

API_EXAMPLES = 45
# Random afresh on every local run (to find new cases); the same examples under CI=true,
# so a green CI stays green for the same code.
DERANDOMIZE = bool(os.environ.get("CI"))
CLI_EXAMPLES = 500


@pytest.fixture
def api_url(engine_db: str, dev_env: WorkflowEnvironment, task_queue: str) -> Iterator[str]:
    """The API in front of the dev server and a worker (starts answer at once)."""
    target = dev_env.client.service_client.config.target_host
    with served_api(engine_db, target, task_queue=task_queue) as url:
        yield url


@pytest.fixture
def admin(engine_db: str, api_url: str) -> dict[str, str]:
    """A token with every role, used once (its first use is a write) before the checks."""
    headers = bearer(token_for(engine_db, "fuzzer", ["viewer", "operator", "approver", "admin"]))
    assert httpx.get(f"{api_url}/auth/me", headers=headers).status_code == 200
    return headers


@pytest.mark.devserver
async def test_the_api_takes_random_input_without_a_5xx_or_a_stray_write(
    api_url: str,
    admin: dict[str, str],
    engine_db: str,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    say: Say,
) -> None:
    async with build_worker(dev_env.client, task_queue, engine_db):
        await asyncio.to_thread(_fuzz_the_api, api_url, admin, engine_db, say)


def _fuzz_the_api(api_url: str, admin: dict[str, str], engine_db: str, say: Say) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    assert len(operations) >= 10
    failures: list[str] = []
    tried = refused = 0
    for operation in operations:

        @settings(
            max_examples=API_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            nonlocal tried, refused
            before = digest(engine_db)
            response = case.call(base_url=api_url, timeout=90, headers=admin)
            tried += 1
            where = f"{case.method} {case.formatted_path}: {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{where} {response.text[:200]} for {case.body!r:.200}")
            elif response.status_code >= 400:
                refused += 1
                if digest(engine_db) != before:
                    failures.append(f"{where} refused but the database changed")
                kind = response.headers.get("content-type") or ""
                if (kind[0] if isinstance(kind, list) else kind).startswith("text/html"):
                    return  # a page for browsers (the CLI's sign-in) says it in HTML
                body = response.json()
                if not {"error", "path", "reason"} <= set(body):
                    failures.append(f"{where} error body without error/path/reason: {body}")

        call()
    routes = [
        ("POST", "/api/v1/plans"),
        ("PUT", "/api/v1/plans/1"),
        ("POST", "/api/v1/plans/validate"),
    ]
    fixed = [(method, path, admin, body) for body in HOSTILE_BODIES for method, path in routes]
    sent, wrong = send_fixed_set(api_url, fixed, engine_db)
    assert failures + wrong == []
    say(
        f"API: {tried} random requests over {len(operations)} operations, {refused} "
        f"refused, and {sent} of the fixed set; none a 5xx, none writing anything"
    )


COMMANDS = [
    ["plan", "validate"],
    ["plan", "apply"],
    ["plan", "show"],
    ["plan", "export"],
    ["plan", "delete"],
    ["config", "set"],
    ["alerts", "apply"],
    ["alerts", "delete"],
    ["catalog", "show"],
    ["status"],
    ["audit"],
    ["fill"],
    ["confirm"],
    ["abort"],
    ["inbox"],
    ["list"],
    ["replay", "--dir"],
    ["plan", "validate", "--offline"],
]
WORDS = [
    "--json",
    "--set",
    "3.pods=4",
    "--comment",
    "-m",
    "--user",
    "--from",
    "1",
    "x=y",
    "platform.dap.base_url",
    "scale_out.poll_interval_seconds",
    "-1",
    "",
    "{}",
    "[]",
    "loan-api overload",
    "'",
    "\x00",
    "é",
    "--format",
    "html",
    "verify",
    "a" * 300,
]
VALID = {
    "name": "fuzzed",
    "scene": "EMERGENCY",
    "steps": [{"name": "s", "action": "CHECKPOINT", "params": {"note": "n"}}],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def plan_files(draw: st.DrawFn) -> str:
    """A valid plan with one part replaced by something random, or random text."""
    if draw(st.booleans()):
        return draw(st.text(max_size=200))
    document: dict[str, Any] = json.loads(json.dumps(VALID))
    where = draw(st.sampled_from(["name", "scene", "steps", "step", "param", "extra"]))
    value = draw(json_values)
    if where == "step":
        document["steps"][0][
            draw(st.sampled_from(["name", "action", "params", "strategy", "pending", "bogus"]))
        ] = value
    elif where == "param":
        document["steps"][0]["params"][draw(st.sampled_from(["note", "seconds", "x"]))] = value
    else:
        document[where] = value
    return yaml.safe_dump(document, allow_unicode=True)


@pytest.mark.devserver
def test_the_cli_takes_random_input_without_a_traceback_or_a_stray_write(
    engine_db: str,
    api_url: str,
    admin: dict[str, str],
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    say: Say,
) -> None:
    for key in [k for k in os.environ if k.startswith("NIGHTWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", engine_db)
    monkeypatch.setenv(
        "NIGHTWATCH_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host
    )
    monkeypatch.setenv("NIGHTWATCH_TASK_QUEUE", "no-worker-here")
    monkeypatch.setenv("NIGHTWATCH_API_URL", api_url)
    monkeypatch.setenv("NIGHTWATCH_TOKEN", admin["Authorization"].removeprefix("Bearer "))
    monkeypatch.setenv("NIGHTWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    failures: list[str] = []
    codes: dict[int, int] = {}

    @settings(
        max_examples=CLI_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        command=st.sampled_from(COMMANDS),
        words=st.lists(st.sampled_from(WORDS) | st.text(max_size=30), max_size=4),
        file=plan_files(),
    )
    def call(command: list[str], words: list[str], file: str) -> None:
        path = tmp_path / "input.yaml"
        path.write_text(file)
        argv = [
            *command,
            *(["input.yaml"] if "apply" in command or "validate" in command else []),
            *words,
        ]
        before = digest(engine_db)
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "argv", ["nightwatch", *argv])
        with redirect_stdout(out), redirect_stderr(err):
            code = _invoke()
        codes[code] = codes.get(code, 0) + 1
        text = out.getvalue() + err.getvalue()
        if "Traceback" in text or "error: unexpected" in text:
            failures.append(f"{argv!r}: {text[-300:]}")
        if code not in (0, 1, 2, 3, 4):
            failures.append(f"{argv!r}: exit {code}")
        if code != 0 and digest(engine_db) != before:
            failures.append(f"{argv!r}: exit {code} but the database changed")

    call()
    assert failures == [], "\n".join(failures[:12])
    assert sum(codes.values()) == CLI_EXAMPLES and codes.get(0, 0) < CLI_EXAMPLES
    say(
        f"CLI: {CLI_EXAMPLES} random command lines (exit codes {dict(sorted(codes.items()))}), "
        "no traceback, no 'unexpected' error, no write by a refused command"
    )
