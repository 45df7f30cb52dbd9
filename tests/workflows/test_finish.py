"""An execution that ends with its last step's success has that step write its end
(`StepRequest.finish`, docs/performance.md): the workflow records no end of its own. Any
other end (a failure, the database away at that moment) is the workflow's to record."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.execution import ExecutionActivities
from storage.enums import NodeState
from tests.plans.samples import step
from tests.support import database_refusing_connections
from tests.workflows.conftest import Engine, activity_ids, markers
from tests.workflows.test_execution import GATE, _act, _plan
from tests.workflows.test_failures import _fault, _probe
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionRecord, NodeRecord, StepRequest


async def _bookkeeping(engine: Engine, execution_id: str) -> list[str]:
    """The local activities of an execution's history, by type, in order."""
    found = await markers(engine.env.client.get_workflow_handle(execution_id))
    return [d["activity_type"] for name, d in found if name == "core_local_activity"]


async def test_the_last_step_writes_the_end(engine: Engine) -> None:
    plan = _plan(
        "finish", step("CHECKPOINT", "a"), step("CHECKPOINT", "b") | {"params": {"note": "z"}}
    )
    handle = await engine.start(engine.apply(plan))
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    execution, nodes = engine.rows(handle.id)
    assert (execution.state, execution.ended_at is not None) == ("SUCCEEDED", True)
    assert [(n.state, n.attempts, n.ended_at is not None) for n in nodes.values()] == [
        ("SUCCEEDED", 1, True)
    ] * 2
    assert list(nodes.values())[1].output == {"note": "z"}
    # Created by its workflow (a local activity), ended by its step: no record of the end.
    assert await _bookkeeping(engine, handle.id) == ["create_execution"]
    # Each step's activity is named for the Web UI by its node, action and round.
    assert await activity_ids(handle) == ["1 CHECKPOINT #1", "2 CHECKPOINT #1"]


async def test_a_last_step_that_fails_leaves_the_end_to_the_workflow(
    engine: Engine, simulator_url: str
) -> None:
    await _fault(simulator_url, "last", status=503, count=100)
    plan = _plan(
        "last-fails", step("CHECKPOINT", "a"), _probe(simulator_url, "last", onFailure="CONTINUE")
    )
    handle = await engine.start(engine.apply(plan))
    result = await handle.result()
    assert result.state == "FAILED"
    execution, nodes = engine.rows(handle.id)
    assert (execution.state, execution.ended_at is not None) == ("FAILED", True)
    assert [n.state for n in nodes.values()] == ["SUCCEEDED", "FAILED"]
    assert await _bookkeeping(engine, handle.id) == ["create_execution", "record_execution"]


async def test_the_database_away_at_the_last_step_leaves_the_end_to_the_workflow(
    engine: Engine,
) -> None:
    plan = _plan("finish-outage", step("CHECKPOINT", "a"), step("CHECKPOINT", "b") | GATE)
    handle = await engine.start(engine.apply(plan))
    await engine.waiting(handle, "2")  # recorded at the wait, the database up
    with database_refusing_connections(engine.db):
        await _act(handle, PlanExecutionWorkflow.confirm, "2")
        # The last step runs, cannot write the end, and says so: the workflow's record
        # of the end then waits for the database (durable timers).
        await engine.node_when(handle, "2", lambda n: n.state == "SUCCEEDED", within=60)
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    execution, nodes = engine.rows(handle.id)
    assert (execution.state, execution.ended_at is not None) == ("SUCCEEDED", True)
    assert [n.state for n in nodes.values()] == ["SUCCEEDED", "SUCCEEDED"]
    assert list(nodes.values())[1].decisions[0]["action"] == "CONFIRM"
    bookkeeping = await _bookkeeping(engine, handle.id)
    # Created, recorded at the wait, then the end (once or more, until the database took it).
    assert bookkeeping[:2] == ["create_execution", "record_execution"], bookkeeping
    assert bookkeeping.count("record_execution") >= 2, bookkeeping


async def test_a_retried_last_step_finds_the_end_recorded_and_changes_nothing(
    engine: Engine,
) -> None:
    # A last step whose first attempt wrote the end but whose answer was lost runs again:
    # the ended execution is left as it is, and the step still says the end is recorded.
    plan = _plan("finish-again", step("CHECKPOINT", "a"), step("CHECKPOINT", "b"))
    handle = await engine.start(engine.apply(plan))
    await handle.result()
    execution, nodes = engine.rows(handle.id)
    last = list(nodes.values())[-1]
    before = (execution.state, execution.ended_at, [(n.state, n.output) for n in nodes.values()])
    record = ExecutionRecord(
        execution_row=execution.id,
        state="FAILED",
        ended=True,
        nodes=[NodeRecord(node_id=last.id, state=NodeState.FAILED, params={})],
    )
    request = StepRequest(
        execution_row=execution.id, node_id=last.id, action="CHECKPOINT", params={}, finish=record
    )
    steps = ExecutionActivities(engine.db)
    assert await steps._finish(request, {"again": True}, datetime.now(UTC)) is True
    execution, nodes = engine.rows(handle.id)
    after = (execution.state, execution.ended_at, [(n.state, n.output) for n in nodes.values()])
    assert after == before
    # No such execution at all: not recorded (the workflow's own record then says why).
    gone = request.model_copy(
        update={"finish": record.model_copy(update={"execution_row": 987654321})}
    )
    assert await steps._finish(gone, {}, datetime.now(UTC)) is False
