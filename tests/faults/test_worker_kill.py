"""A worker killed with SIGKILL during a step and during a disaster-recovery sub-plan (a child
workflow): a new worker finishes every execution, history and database agree, no node twice.
(Killed during scale-out polling: tests/actions/test_scale_engine.py, one release order.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from storage.db import session_factory
from storage.models import Execution, ExecutionNode
from tests.conftest import sim
from tests.faults.conftest import consistent, engine_on, stop, worker_process
from tests.support import Say, wait_until_async
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision


def _slow_call(url: str) -> dict[str, object]:
    return {"name": "slow call", "action": "HTTP_CALL", "params": {"url": f"{url}/probe/slow"}}


@pytest.mark.devserver
async def test_a_killed_worker_is_replaced_and_every_execution_finishes(
    dev_env: WorkflowEnvironment,
    engine_db: str,
    simulator_url: str,
    task_queue: str,
    tmp_path: Path,
    say: Say,
) -> None:
    engine = engine_on(dev_env.client, engine_db, task_queue)
    step_plan = engine.apply(
        {
            "name": "slow step",
            "scene": "EMERGENCY",
            "steps": [{"name": "before", "action": "CHECKPOINT"}, _slow_call(simulator_url)],
        }
    )
    dr_plan = engine.apply(
        {
            "name": "slow switch",
            "scene": "RECOVERY",
            "sub_plans": [
                {"type": "DISASTER_SWITCH", "steps": [_slow_call(simulator_url)]},
                {"type": "DISASTER_RECOVERY", "steps": [{"name": "r", "action": "CHECKPOINT"}]},
                {"type": "TRAFFIC_BACK", "steps": [{"name": "t", "action": "CHECKPOINT"}]},
            ],
        }
    )
    await sim(simulator_url, "PUT", "/admin/faults/slow", json={"delay_seconds": 4, "count": 0})
    log = tmp_path / "worker.log"
    first = worker_process(
        dev_env.client.service_client.config.target_host, engine_db, task_queue, log
    )
    try:
        step = await engine.start(step_plan)
        dr = await engine.start(dr_plan)
        await engine.waiting(dr, "DISASTER_SWITCH")
        await dr.execute_update(
            PlanExecutionWorkflow.confirm, Decision(node="DISASTER_SWITCH", user="li.wei")
        )

        async def both_inside_the_call() -> bool:
            calls = await sim(simulator_url, "GET", "/admin/calls/slow")
            return int(calls["calls"]) >= 2

        await wait_until_async(both_inside_the_call, within=60, what="both slow calls running")
        first.kill()
        first.wait(30)
        say("worker killed (SIGKILL) inside a step and inside a DR sub-plan's step")
    finally:
        stop(first)
    second = worker_process(
        dev_env.client.service_client.config.target_host, engine_db, task_queue, log
    )
    try:
        for kind in ("DISASTER_RECOVERY", "TRAFFIC_BACK"):
            await engine.node_when(dr, kind, lambda n: n.waiting_for is not None, within=90)
            await dr.execute_update(
                PlanExecutionWorkflow.confirm, Decision(node=kind, user="li.wei")
            )
        results = [await step.result(), await dr.result()]
    finally:
        stop(second)
        await sim(simulator_url, "DELETE", "/admin/faults/slow")
    assert [r.state for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    for handle, nodes in ((step, 2), (dr, 3 + 3)):
        report = await consistent(dev_env.client, engine_db, handle.id)
        assert len(report["nodes"]) == nodes
        with session_factory(engine_db)() as session:
            rows = session.scalar(
                select(func.count())
                .select_from(ExecutionNode)
                .join(Execution)
                .where(Execution.execution_id == handle.id)
            )
        assert rows == nodes  # no node written twice
    step_report = await consistent(dev_env.client, engine_db, step.id)
    slow = next(s for s in step_report["steps"] if s["node"] == "2")
    assert slow["attempts"] >= 2 and slow["outcome"] == "completed"
    say(
        "a new worker finished both; the slow step retried (attempt "
        f"{slow['attempts']}); history and database agree; {2 + 6} nodes, none twice"
    )
