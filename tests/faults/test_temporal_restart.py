"""The Temporal server crashes (SIGKILL) and comes back on the same state file while
executions wait for confirmation and while a scale-out polls its release order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.actions.test_scale_engine import _scale_plan
from tests.conftest import sim
from tests.faults.conftest import (
    RestartableTemporal,
    connect,
    consistent,
    engine_on,
    retrying,
    stop,
    worker_process,
)
from tests.support import Say, wait_until_async
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision, ExecutionView

GATED = {
    "name": "gated",
    "scene": "EMERGENCY",
    "steps": [
        {"name": "gate", "action": "CHECKPOINT", "strategy": {"preConfirm": True}},
        {"name": "after", "action": "CHECKPOINT", "params": {"note": "after the restart"}},
    ],
}


@pytest.mark.devserver
async def test_executions_finish_after_a_temporal_crash_and_restart(
    temporal: RestartableTemporal,
    engine_db: str,
    simulator_url: str,
    task_queue: str,
    tmp_path: Path,
    say: Say,
) -> None:
    client = await connect(temporal.address)
    engine = engine_on(client, engine_db, task_queue)
    gated = engine.apply(GATED)
    scale = engine.apply(_scale_plan("scale during a crash"))
    await sim(simulator_url, "PUT", "/admin/faults/dap.order_progress", json={"stuck": True})
    worker = worker_process(temporal.address, engine_db, task_queue, tmp_path / "worker.log")
    try:
        waiting = [await engine.start(gated) for _ in range(3)]
        polling = await engine.start(scale)
        for handle in waiting:
            await engine.waiting(handle, "1")

        async def heartbeating() -> bool:
            pending = (await polling.describe()).raw_description.pending_activities
            return bool(pending and pending[0].heartbeat_details.payloads)

        await wait_until_async(heartbeating, within=60, what="the scale-out polling")
        temporal.kill()
        say("Temporal killed (SIGKILL) with 3 executions waiting and 1 scale-out polling")
        await temporal.start()
        await sim(simulator_url, "DELETE", "/admin/faults/dap.order_progress")
        client = await connect(temporal.address)
        for handle in waiting:
            again = client.get_workflow_handle(handle.id)
            await retrying(
                lambda h=again: h.execute_update(  # type: ignore[misc]
                    PlanExecutionWorkflow.confirm, Decision(node="1", user="li.wei")
                ),
                what="confirm after the restart",
            )
        results = [
            await client.get_workflow_handle(h.id, result_type=ExecutionView).result()
            for h in [*waiting, polling]
        ]
    finally:
        stop(worker)
    assert [r.state for r in results] == ["SUCCEEDED"] * 4
    orders = (
        await sim(simulator_url, "GET", "/dap/v1/release-orders", params={"app": "loan-api"})
    )["orders"]
    assert len(orders) == 1 and orders[0]["state"] == "SUCCEEDED"
    for handle in [*waiting, polling]:
        await consistent(client, engine_db, handle.id)
    say("all 4 executions SUCCEEDED; one release order; history and database agree")
