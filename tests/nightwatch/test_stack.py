"""`nightwatch up / down / health` as a user runs them: real processes, real ports."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from temporalio.client import Client

from tests.nightwatch.conftest import StackEnv
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow


def _park_a_workflow(address: str) -> str:
    """Start a workflow nobody polls for: it stays open in Temporal's state."""

    async def start() -> str:
        client = await Client.connect(address)
        handle = await client.start_workflow(
            "ParkedWorkflow", id=f"parked-{uuid.uuid4().hex[:8]}", task_queue="nobody-polls"
        )
        return handle.id

    return asyncio.run(start())


def _workflow_exists(address: str, workflow_id: str) -> bool:
    async def describe() -> bool:
        client = await Client.connect(address)
        await client.get_workflow_handle(workflow_id).describe()
        return True

    return asyncio.run(describe())


def test_up_twice_keeps_temporal_state_and_the_database(stack: StackEnv) -> None:
    first = stack.run("up", "--detach", "--demo")
    assert first.returncode == 0, first.stderr
    assert "ready" in first.stdout
    assert "demo      created plan 1 'loan-api overload'" in first.stdout
    # The demo ran the emergency plan against the simulator: parameters filled in, the
    # scale-out confirmed, its release order driven batch by batch to the end.
    assert "fill in pods=4" in first.stdout and "as the duty manager: confirm" in first.stdout
    assert "release order RO-0001: 4 pods in 2 batches, each confirmed" in first.stdout
    assert "execution SUCCEEDED" in first.stdout
    # People: the admin and the duty manager, passwords 0600; the CLI signed in.
    for person in ("admin", "duty-manager"):
        assert f"people    {person}: local account, password in" in first.stdout
        password = stack.home / f"{person}.password"
        assert oct(password.stat().st_mode & 0o777) == "0o600"
    assert "the CLI is signed in as duty-manager" in first.stdout
    whoami = stack.run("whoami")
    assert whoami.stdout.startswith("duty-manager: approver, operator; groups duty-manager")
    api = f"http://127.0.0.1:{stack.env['NIGHTWATCH_API_PORT']}"
    assert httpx.get(f"{api}/api/v1/plans", timeout=10).status_code == 401
    token = json.loads((stack.home.parent / "credentials.json").read_text())[api]["token"]
    signed_in = {"Authorization": f"Bearer {token}"}
    plans = httpx.get(f"{api}/api/v1/plans", timeout=10, headers=signed_in).json()
    assert [p["name"] for p in plans] == [
        "core-banking DC switch",
        "loan-api overload",
        "night drill",
        "payment-gateway instances down",
    ]
    assert httpx.get(stack.ui, timeout=10).status_code == 200
    # The console the `ready` line names: its sign-in page, its scripts served from here.
    assert f"console={api}/console/" in first.stdout
    sign_in = httpx.get(f"{api}/console/sign-in", timeout=10)
    assert sign_in.status_code == 200 and "/console/static/vendor/htmx.min.js" in sign_in.text
    assert httpx.get(f"{api}/console/static/vendor/htmx.min.js", timeout=10).status_code == 200
    # The address the README and the `ready` line give for the simulator: its index.
    simulator = httpx.get(f"http://127.0.0.1:{stack.env['NIGHTWATCH_SIMULATOR_PORT']}/", timeout=10)
    assert simulator.status_code == 200
    assert "Fault switches" in simulator.text and "dc-a-public" in simulator.text
    # The README's curl: an Alertmanager notification starts the example self-recovery plan.
    secrets = json.loads((stack.home / "intake-secrets.json").read_text())
    alert = {
        "version": "4",
        "receiver": "nightwatch",
        "status": "firing",
        "groupKey": "g",
        "alerts": [
            {
                "status": "firing",
                "startsAt": "2026-11-27T08:00:00Z",
                "labels": {
                    "alertname": "PaymentPodsDown",
                    "severity": "critical",
                    "app": "payment-gateway",
                },
            }
        ],
    }
    intake = f"http://127.0.0.1:{stack.env['NIGHTWATCH_INTAKE_PORT']}/alerts/alertmanager"
    taken = httpx.post(
        intake,
        json=alert,
        timeout=30,
        headers={"authorization": f"Bearer {secrets['NIGHTWATCH_ALERT_TOKENS']}"},
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["outcomes"][0]["outcome"] == "STARTED"

    _audit_the_demo_run(stack, api)
    _every_example_plan_succeeds(stack)
    # The stack passes each part only variables it knows: nothing is warned about.
    logs = {p.name: p.read_text() for p in (stack.home / "logs").glob("*.log")}
    assert {"worker.log", "api.log", "simulator.log", "intake.log"} <= set(logs)
    assert [name for name, text in logs.items() if "unknown setting" in text] == []

    # A container's readiness probe: only what a worker needs.
    probe = stack.run("health", "--probe", "--json")
    assert probe.returncode == 0, probe.stdout
    shown = [part["part"] for part in json.loads(probe.stdout)["parts"]]
    assert shown == ["postgres", "temporal", "worker"]
    health = stack.run("health", "--json")
    report = json.loads(health.stdout)
    assert health.returncode == 0, health.stdout
    assert report["ok"] is True
    assert [part["part"] for part in report["parts"]] == [
        "postgres",
        "temporal",
        "ui",
        "worker",
        "simulator",
        "api",
        "intake",
    ]

    workflow_id = _park_a_workflow(stack.temporal)
    with psycopg.connect(stack.database, autocommit=True) as conn:
        conn.execute("insert into feature_switch (name, enabled) values ('kept', true)")

    assert stack.run("down").returncode == 0
    assert stack.nothing_running()

    second = stack.run("up", "--detach")
    assert second.returncode == 0, second.stderr
    assert _workflow_exists(stack.temporal, workflow_id)
    with psycopg.connect(stack.database) as conn:
        names = conn.execute("select name from feature_switch where name = 'kept'").fetchall()
    assert names == [("kept",)]
    deep = stack.run("health", "--deep")
    assert deep.returncode == 0, deep.stdout
    assert "ran diagnostics" in deep.stdout


EXAMPLES = Path(__file__).parents[2] / "examples" / "plans"
# What the duty manager fills in when an example plan asks for parameters.
ANSWERS = {"pods": "2", "instance": "", "bearer_token": "env:NIGHTWATCH_NO_TOKEN"}


def _every_example_plan_succeeds(stack: StackEnv) -> None:
    """Each example plan, run on the stack's simulator as the duty manager would answer
    it (confirm what waits for a confirmation or manual work, fill in what is pending),
    ends SUCCEEDED: an example can never drift from the simulator again."""
    names = [yaml.safe_load(path.read_text())["name"] for path in sorted(EXAMPLES.glob("*.yaml"))]
    started = {}
    for name in names:
        run = stack.run("run", name, "--json")
        assert run.returncode == 0, (name, run.stdout, run.stderr)
        started[name] = json.loads(run.stdout)["execution_id"]
    ended: dict[str, str] = {}
    acted: list[str] = []

    def all_ended() -> bool:
        for name, execution in started.items():
            if name in ended:
                continue
            view = json.loads(stack.run("status", execution, "--json").stdout)
            if view["state"] not in ("RUNNING", "WAITING", "PENDING"):
                ended[name] = view["state"]
            for node in view["nodes"]:
                _answer(stack, execution, node, acted)
        return len(ended) == len(started)

    wait_until(all_ended, timeout=300, what=f"every example plan to end (ended: {ended})")
    assert ended == dict.fromkeys(names, "SUCCEEDED"), (ended, acted)
    assert any(" TRAFFIC_BACK " in act for act in acted), acted  # the DR plan ran to its end


def _answer(stack: StackEnv, execution: str, node: dict[str, object], acted: list[str]) -> None:
    key, state = str(node["key"]), node["state"]
    if state == "WAITING_PARAMETERS":
        missing = [str(name) for name in node["missing"]]  # type: ignore[attr-defined]
        values = [f"{name}={ANSWERS[name]}" for name in missing]
        done = stack.run("fill", execution, key, *values)
    elif state == "WAITING_CONFIRMATION":
        done = stack.run("confirm", execution, key, "-m", "example run")
    else:
        return
    assert done.returncode == 0, (execution, key, done.stdout, done.stderr)
    acted.append(f"{execution} {key} {state}")


def _audit_the_demo_run(stack: StackEnv, api: str) -> None:
    """The README's audit commands on the demo's execution; payloads encrypted, the UI
    pointed at the codec endpoint."""
    listed = json.loads(stack.run("list", "--json").stdout)["executions"]
    demo = next(e["execution"] for e in listed if e["plan"] == "loan-api overload")
    archived: list[str] = []

    def in_archive() -> bool:
        with psycopg.connect(stack.database) as conn:
            query = "select workflow_id from history_archive where execution_id = %s"
            archived[:] = [r[0] for r in conn.execute(query, (demo,))]
        return bool(archived)

    wait_until(in_archive, timeout=90, what="the demo's history archived by the worker")
    audit = stack.run("audit", demo)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "Database and history | agree" in audit.stdout and "| CONFIRM |" in audit.stdout
    verify = stack.run("audit", "verify")
    assert verify.returncode == 0 and verify.stdout.strip().endswith("chain intact")
    replayed = stack.run("replay", demo)
    assert replayed.returncode == 0 and "1 replayed, 0 failed" in replayed.stdout
    settings = httpx.get(f"{stack.ui}api/v1/settings", timeout=10).json()
    assert settings["Codec"]["Endpoint"] == f"{api}/codec"
    with psycopg.connect(stack.database) as conn:
        row = conn.execute(
            "select history_gz from history_archive where workflow_id = %s", (demo,)
        ).fetchone()
    assert row is not None
    raw = gzip.decompress(row[0]).decode()
    assert "YmluYXJ5L2VuY3J5cHRlZA==" in raw  # "binary/encrypted"
    assert "loan-api" not in raw and "duty" not in raw


def test_up_when_already_running_reports_it(stack: StackEnv) -> None:
    assert stack.run("up", "--detach").returncode == 0
    again = stack.run("up", "--detach")
    assert again.returncode == 0
    assert "already running" in again.stdout


def test_foreground_up_stops_everything_on_ctrl_c(stack: StackEnv) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "nightwatch", "up"],
        env=stack.env,
        cwd=stack.home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    wait_until(lambda: any(line.startswith("ready") for line in lines), timeout=180, what="ready")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
    reader.join(timeout=10)
    assert lines[-1].strip() == "stopped"
    assert stack.nothing_running()


def _assert_clean_failure(stack: StackEnv, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert stack.nothing_running()


def test_port_in_use_is_one_line_and_nothing_starts(stack: StackEnv) -> None:
    port = int(stack.env["NIGHTWATCH_TEMPORAL_UI_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = stack.run("up", "--detach")
    _assert_clean_failure(stack, result)
    assert f"NIGHTWATCH_TEMPORAL_UI_PORT: port {port} is already in use" in result.stderr


def test_missing_temporal_binary_is_one_line(stack: StackEnv) -> None:
    stack.env["NIGHTWATCH_TEMPORAL_BIN"] = "/nonexistent/temporal"
    result = stack.run("up", "--detach")
    _assert_clean_failure(stack, result)
    assert "temporal binary not found" in result.stderr


def test_unreachable_database_is_one_line(stack: StackEnv) -> None:
    stack.env["DATABASE_URL"] = f"postgresql://nw:pw@127.0.0.1:{free_port()}/nightwatch"
    result = stack.run("up", "--detach")
    _assert_clean_failure(stack, result)
    assert "cannot reach the database" in result.stderr
    assert ":pw@" not in result.stderr


def test_part_dying_at_start_stops_what_was_started(stack: StackEnv) -> None:
    # A "temporal" that exits at once: PostgreSQL has started by then and must be stopped.
    stack.env["NIGHTWATCH_TEMPORAL_BIN"] = "/bin/false"
    result = stack.run("up", "--detach")
    _assert_clean_failure(stack, result)
    assert "temporal: exited during start-up" in result.stderr
    assert not (stack.home / "stack.json").exists()


def test_health_with_nothing_running_exits_1(stack: StackEnv) -> None:
    result = stack.run("health", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert all(not part["ok"] for part in report["parts"])


def test_down_with_nothing_running_says_so(stack: StackEnv) -> None:
    result = stack.run("down")
    assert result.returncode == 0
    assert "nothing was running" in result.stdout
