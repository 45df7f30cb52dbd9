"""PostgreSQL stops in the middle of executions (and while new ones start) and comes back:
bookkeeping writes wait and retry, every execution ends, nothing is left RUNNING, no node
is written twice, history and database agree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from storage.db import engine, session_factory
from storage.models import Execution, ExecutionNode
from tests.faults.conftest import Postgres, consistent, engine_on, stop, worker_process
from tests.support import Say, wait_until_async
from workflows.execution import PlanExecutionWorkflow

PLAN = {
    "name": "through an outage",
    "scene": "EMERGENCY",
    "steps": [
        {"name": "one", "action": "CHECKPOINT"},
        {"name": "pause", "action": "WAIT", "params": {"seconds": 2}},
        {"name": "three", "action": "CHECKPOINT"},
        {"name": "four", "action": "CHECKPOINT"},
    ],
}


@pytest.mark.devserver
async def test_executions_end_consistent_after_a_postgres_restart(
    dev_env: WorkflowEnvironment,
    postgres: Postgres,
    task_queue: str,
    tmp_path: Path,
    say: Say,
) -> None:
    db = postgres.url
    runner = engine_on(dev_env.client, db, task_queue)
    plan = runner.apply(PLAN)
    address = dev_env.client.service_client.config.target_host
    worker = worker_process(address, db, task_queue, tmp_path / "worker.log")
    try:
        running = [await runner.start(plan) for _ in range(5)]
        for handle in running:
            await runner.node_when(handle, "2", lambda n: n.state == "RUNNING")
        engine(db).dispose()
        postgres.stop()
        say("PostgreSQL stopped with 5 executions in their second step")
        starting = [await runner.start(plan) for _ in range(2)]  # their rows cannot be made

        async def steps_done_without_the_database() -> bool:
            for handle in running:
                try:
                    view = await handle.query(
                        PlanExecutionWorkflow.get_state, rpc_timeout=timedelta(seconds=10)
                    )
                except RPCError:  # a busy worker answers late: ask again
                    return False
                if view.nodes[3].state != "SUCCEEDED":
                    return False
            return True

        await wait_until_async(
            steps_done_without_the_database,
            within=120,
            what="the steps finishing while the database is down",
        )
        postgres.start()
        say("PostgreSQL started again after every step of the 5 had finished")
        results = [await handle.result() for handle in [*running, *starting]]
    finally:
        stop(worker)
    assert [r.state for r in results] == ["SUCCEEDED"] * 7
    for handle in [*running, *starting]:
        await consistent(dev_env.client, db, handle.id)
        with session_factory(db)() as session:
            rows = session.scalar(
                select(func.count())
                .select_from(ExecutionNode)
                .join(Execution)
                .where(Execution.execution_id == handle.id)
            )
        assert rows == 4
    with session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 7
    say(
        "all 7 SUCCEEDED (2 started during the outage); 4 nodes each, none RUNNING; "
        "history and database agree"
    )
