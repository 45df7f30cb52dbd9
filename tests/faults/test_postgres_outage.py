"""A long PostgreSQL outage (longer than any retry window in the code: over 3 minutes)
in each place an execution touches the database: during a step (a scale-out polling its
release order), during a wait for a person (waiting when it began, and reaching a wait
while it lasted), at the final record, and at creation. No execution fails; queries
answer throughout; once the database is back the rows catch up (a waiting execution's
too, before anyone acts) and the audit finds history and database in agreement."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from storage.db import engine
from tests.conftest import sim
from tests.faults.conftest import Postgres, consistent, engine_on, stop, worker_process
from tests.support import Say, wait_until_async
from tests.workflows.conftest import Engine, Handle
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision, ExecutionView

OUTAGE_SECONDS = 185  # over 3 minutes: longer than every retry window but the patience
GATE = {"strategy": {"preConfirm": True}}
PLANS: dict[str, list[dict[str, Any]]] = {
    "in a step": [
        {
            "name": "scale out",
            "action": "APP_SCALE_OUT",
            "params": {"app": "loan-api", "pods": 2, "batch_size": 1},
        },
        {"name": "after", "action": "CHECKPOINT"},
    ],
    "waiting before": [
        {"name": "gate", "action": "CHECKPOINT", **GATE},
        {"name": "after", "action": "CHECKPOINT"},
    ],
    "reaches a wait": [
        {"name": "pause", "action": "WAIT", "params": {"seconds": 6}},
        {"name": "gate", "action": "CHECKPOINT", **GATE},
    ],
    "final record": [
        {"name": "first", "action": "CHECKPOINT"},
        {"name": "pause", "action": "WAIT", "params": {"seconds": 6}},
    ],
    "created": [{"name": "only", "action": "CHECKPOINT"}],
}


async def _view(handle: Handle) -> ExecutionView | None:
    try:
        return await handle.query(
            PlanExecutionWorkflow.get_state, rpc_timeout=timedelta(seconds=10)
        )
    except RPCError:
        return None


async def _node(runner: Engine, handle: Handle, key: str, state: str, within: float) -> None:
    await runner.node_when(handle, key, lambda n: n.state == state, within=within)


async def _confirm(handle: Handle, node: str) -> None:
    decision = Decision(node=node, user="li.wei", comment="outage drill")
    await handle.execute_update(PlanExecutionWorkflow.confirm, decision)


@pytest.mark.devserver
@pytest.mark.slow
async def test_a_long_database_outage_fails_no_execution(
    dev_env: WorkflowEnvironment,
    postgres: Postgres,
    task_queue: str,
    tmp_path: Path,
    simulator_url: str,
    say: Say,
) -> None:
    db = postgres.url
    await sim(simulator_url, "POST", "/admin/reset")
    runner = engine_on(dev_env.client, db, task_queue)
    plans = {
        name: runner.apply({"name": f"outage {name}", "scene": "EMERGENCY", "steps": steps})
        for name, steps in PLANS.items()
    }
    address = dev_env.client.service_client.config.target_host
    worker = worker_process(address, db, task_queue, tmp_path / "worker.log")
    await sim(simulator_url, "PUT", "/admin/faults/dap.order_progress", json={"stuck": True})
    handles: dict[str, Handle] = {}
    began = 0.0

    def at() -> str:
        return f"t+{time.monotonic() - began:5.1f}s"

    try:
        for name in ("in a step", "waiting before", "reaches a wait", "final record"):
            handles[name] = await runner.start(plans[name])
        await _node(runner, handles["in a step"], "1", "RUNNING", 60)
        await runner.waiting(handles["waiting before"], "1")
        await _node(runner, handles["reaches a wait"], "1", "RUNNING", 30)
        await _node(runner, handles["final record"], "2", "RUNNING", 30)
        engine(db).dispose()
        postgres.stop()
        began = time.monotonic()
        say(
            f"{at()} PostgreSQL stopped: a scale-out polls a stuck release order, one "
            "execution waits for confirmation, two are in a 6 s WAIT"
        )
        handles["created"] = await runner.start(plans["created"])
        say(f"{at()} a fifth execution started (its rows cannot be made)")
        await sim(simulator_url, "DELETE", "/admin/faults/dap.order_progress")
        await _confirm(handles["waiting before"], "1")
        say(f"{at()} release order released; step 1 of 'waiting before' confirmed")
        await runner.waiting(handles["reaches a wait"], "2")
        say(f"{at()} 'reaches a wait' waits for confirmation (its record found no database)")
        await _node(runner, handles["in a step"], "2", "SUCCEEDED", 120)
        say(
            f"{at()} the scale-out finished and every step ran without the database; "
            "the final records wait for it"
        )
        while time.monotonic() - began < OUTAGE_SECONDS:
            for name, handle in handles.items():
                view = await _view(handle)
                assert view is not None, f"{name}: no answer to a query during the outage"
                status = (await handle.describe()).status
                assert status == WorkflowExecutionStatus.RUNNING, f"{name}: {status}"
            await wait_until_async(_past(time.monotonic() + 15), within=30, what="15 s more")
        say(f"{at()} every query answered during the outage; no execution ended")
        postgres.start()
        say(f"{at()} PostgreSQL started again")

        def row_caught_up() -> bool:
            execution, nodes = runner.rows(handles["reaches a wait"].id)
            states = [n.state for n in nodes.values()]
            return execution.state == "WAITING" and states == ["SUCCEEDED", "WAITING_CONFIRMATION"]

        await wait_until_async(
            _sync(row_caught_up), within=150, what="the waiting execution's rows catching up"
        )
        say(f"{at()} the waiting execution's rows caught up before anyone acted")
        await _confirm(handles["reaches a wait"], "2")
        results = {name: await handle.result() for name, handle in handles.items()}
        say(f"{at()} all five ended")
    finally:
        stop(worker)
    assert {name: r.state for name, r in results.items()} == dict.fromkeys(handles, "SUCCEEDED")
    for handle in handles.values():
        await consistent(dev_env.client, db, handle.id)
    orders = await sim(simulator_url, "GET", "/dap/v1/release-orders", params={"app": "loan-api"})
    assert len(orders["orders"]) == 1
    say(
        "5 SUCCEEDED; none RUNNING; one release order; the audit of each: history and "
        "database agree"
    )


def _past(moment: float) -> Any:
    async def past() -> bool:
        return time.monotonic() >= moment

    return past


def _sync(check: Any) -> Any:
    async def run() -> bool:
        return bool(check())

    return run
