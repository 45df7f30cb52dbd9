"""Starting executions through the service with their rows made first: a start that does
not happen leaves no rows, and rows of a start that died are replaced only when old."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from activities import creation
from executions.service import ExecutionExists, Executions
from nightwatch.errors import NotFound
from nightwatch.temporal import data_converter
from storage import executions as rows
from storage.db import session_factory, writer_engine
from storage.models import Execution
from tests.support import TcpProxy
from tests.workflows.conftest import Engine, engine
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionInput, ExecutionView

__all__ = ["engine"]
PLAN = {
    "name": "two notes",
    "scene": "EMERGENCY",
    "steps": [
        {"name": "a", "action": "CHECKPOINT", "params": {"note": "a"}},
        {"name": "b", "action": "CHECKPOINT", "params": {"note": "b"}},
    ],
}


def _row(db: str, execution: str) -> Execution | None:
    with session_factory(db)() as session:
        return rows.by_execution_id(session, execution)


async def _result(engine: Engine, execution: str) -> ExecutionView:
    handle = engine.env.client.get_workflow_handle(execution, result_type=ExecutionView)
    view: ExecutionView = await handle.result()
    return view


def _service(engine: Engine, client: Client | None = None) -> Executions:
    return Executions(client or engine.env.client, engine.queue, database_url=engine.db)


async def test_a_start_makes_the_rows_first_and_refuses_bad_input_before_anything_starts(
    engine: Engine,
) -> None:
    engine.apply(PLAN)
    service = _service(engine)
    with pytest.raises(NotFound, match="no such plan"):
        await service.start(ExecutionInput(plan="ghost"), "exec-ghost")
    assert _row(engine.db, "exec-ghost") is None
    with pytest.raises(RPCError):
        await engine.env.client.get_workflow_handle("exec-ghost").describe()
    execution = await service.start(ExecutionInput(plan="two notes"), f"exec-{uuid.uuid4().hex}")
    result = await engine.env.client.get_workflow_handle(execution).result()
    assert (
        result["state"] == "SUCCEEDED" if isinstance(result, dict) else result.state == "SUCCEEDED"
    )
    row = _row(engine.db, execution)
    assert row is not None and row.state == "SUCCEEDED"


async def test_a_start_temporal_refuses_leaves_no_rows(engine: Engine) -> None:
    engine.apply(PLAN)
    taken = f"exec-{uuid.uuid4().hex}"
    # The id is taken in Temporal by a workflow that made no rows (its plan did not exist).
    handle = await engine.env.client.start_workflow(
        PlanExecutionWorkflow.run, ExecutionInput(plan="ghost"), id=taken, task_queue=engine.queue
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    with pytest.raises(ExecutionExists):
        await _service(engine).start(ExecutionInput(plan="two notes"), taken)
    assert _row(engine.db, taken) is None


async def test_temporal_unreachable_leaves_no_rows_to_block_the_next_try(engine: Engine) -> None:
    engine.apply(PLAN)
    proxy = TcpProxy(engine.env.client.service_client.config.target_host)
    await proxy.start()
    client = await Client.connect(proxy.address, data_converter=data_converter())
    await proxy.stop()
    execution = f"exec-{uuid.uuid4().hex}"
    with pytest.raises((RPCError, RuntimeError)):
        await _service(engine, client).start(ExecutionInput(plan="two notes"), execution)
    assert _row(engine.db, execution) is None, "the next try (an alert again) can start it"
    started = await _service(engine).start(ExecutionInput(plan="two notes"), execution)
    assert (await _result(engine, started)).state == "SUCCEEDED"


async def test_rows_of_a_start_that_died_are_replaced_only_once_old(engine: Engine) -> None:
    engine.apply(PLAN)
    execution = f"exec-{uuid.uuid4().hex}"
    with session_factory(engine.db)() as session:  # a starter died after making the rows
        creation.create(session, execution, ExecutionInput(plan="two notes"))
        session.commit()
    with pytest.raises(ExecutionExists):  # young rows: a start of this id is under way
        await _service(engine).start(ExecutionInput(plan="two notes"), execution)
    with writer_engine(engine.db).connect() as connection:
        connection.execute(
            update(Execution)
            .where(Execution.execution_id == execution)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=3))
        )
    assert await _service(engine).start(ExecutionInput(plan="two notes"), execution) == execution
    assert (await _result(engine, execution)).state == "SUCCEEDED"
