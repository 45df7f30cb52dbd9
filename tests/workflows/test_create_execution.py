"""Creating an execution: idempotent (a retried creation whose first answer was lost
returns the same snapshot and writes nothing twice), always from the plan's current
version, and the workflow's records never change an execution that has ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from activities.execution import ExecutionActivities
from plans import store
from plans.model import PlanDocument
from storage.db import session_factory
from storage.enums import NodeState
from storage.models import Execution, ExecutionNode
from workflows.models import ExecutionInput, ExecutionRecord, NodeRecord


def _apply(db: str, name: str, steps: list[dict[str, Any]]) -> None:
    with session_factory(db)() as session:
        store.apply(
            session,
            PlanDocument.model_validate({"name": name, "scene": "EMERGENCY", "steps": steps}),
        )
        session.commit()


def _nodes(db: str, execution_row: int) -> list[ExecutionNode]:
    with session_factory(db)() as session:
        query = select(ExecutionNode).where(ExecutionNode.execute_order_id == execution_row)
        return list(session.scalars(query.order_by(ExecutionNode.id)))


def test_a_retried_creation_returns_the_same_snapshot(catalog_db: str) -> None:
    steps: list[dict[str, Any]] = [
        {"name": "a", "action": "CHECKPOINT"},
        {"name": "b", "action": "WAIT", "params": {"seconds": 1}},
    ]
    _apply(catalog_db, "twice", steps)
    activities = ExecutionActivities(catalog_db)
    first = activities._create("exec-twice", "run-1", ExecutionInput(plan="twice"))
    again = activities._create("exec-twice", "run-1", ExecutionInput(plan="twice"))
    assert again == first and [n.key for n in again.nodes] == ["1", "2"]
    with session_factory(catalog_db)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 1
        assert session.scalar(select(func.count()).select_from(ExecutionNode)) == 2
    rows = _nodes(catalog_db, first.execution_row)
    assert [row.id for row in rows] == [node.node_id for node in first.nodes]
    assert [row.parameters for row in rows] == [{}, {"seconds": 1}]


def test_an_execution_id_is_never_used_by_a_second_run(catalog_db: str) -> None:
    # Secrets are sealed for an execution id: another run taking the id of an ended
    # execution (Temporal allows it) must not run, or it could unseal them.
    _apply(catalog_db, "once", [{"name": "a", "action": "CHECKPOINT"}])
    activities = ExecutionActivities(catalog_db)
    activities._create("exec-once", "run-1", ExecutionInput(plan="once"))
    with pytest.raises(ApplicationError) as refused:
        activities._create("exec-once", "run-2", ExecutionInput(plan="once"))
    assert refused.value.non_retryable and refused.value.type == "ExecutionIdReused"
    assert "execution exec-once: the id was used already" in str(refused.value)
    with session_factory(catalog_db)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 1


def test_an_edited_plan_is_snapshotted_at_its_new_version(catalog_db: str) -> None:
    # A plan version's steps are read once and kept: an edit must not be missed.
    _apply(catalog_db, "edited", [{"name": "a", "action": "WAIT", "params": {"seconds": 1}}])
    activities = ExecutionActivities(catalog_db)
    before = activities._create("exec-edit-1", "run-1", ExecutionInput(plan="edited"))
    _apply(
        catalog_db,
        "edited",
        [
            {"name": "a", "action": "WAIT", "params": {"seconds": 9}},
            {"name": "b", "action": "CHECKPOINT"},
        ],
    )
    after = activities._create("exec-edit-2", "run-1", ExecutionInput(plan="edited"))
    assert (before.plan_version, [n.params for n in before.nodes]) == (1, [{"seconds": 1}])
    assert (after.plan_version, [n.params for n in after.nodes]) == (2, [{"seconds": 9}, {}])
    with session_factory(catalog_db)() as session:
        execution = session.get(Execution, after.execution_row)
        assert execution is not None
        assert [s["name"] for s in execution.plan_snapshot["document"]["steps"]] == ["a", "b"]


def _record(row: int, node_ids: list[int], state: str, *, ended: bool) -> ExecutionRecord:
    now = datetime.now(UTC)
    return ExecutionRecord(
        execution_row=row,
        state=state,
        ended=ended,
        nodes=[
            NodeRecord(
                node_id=i,
                state=NodeState(state),
                params={"seconds": 1},
                attempts=1,
                output={"ok": True},
                started_at=now,
                ended_at=now,
            )
            for i in node_ids
        ],
    )


def test_the_record_of_an_ended_execution_changes_nothing(catalog_db: str) -> None:
    _apply(catalog_db, "ends", [{"name": "a", "action": "WAIT", "params": {"seconds": 1}}])
    activities = ExecutionActivities(catalog_db)
    snapshot = activities._create("exec-ends", "run-1", ExecutionInput(plan="ends"))
    ids = [n.node_id for n in snapshot.nodes]
    activities.record_execution(_record(snapshot.execution_row, ids, "SUCCEEDED", ended=True))
    [node] = _nodes(catalog_db, snapshot.execution_row)
    assert (node.state, node.attempts, node.output) == ("SUCCEEDED", 1, {"ok": True})
    with session_factory(catalog_db)() as session:
        execution = session.get(Execution, snapshot.execution_row)
        assert execution is not None and execution.ended_at is not None
        assert execution.state == "SUCCEEDED"
    # A repeated final record (its answer was lost) finds the execution ended: no error
    # from the immutability trigger, nothing changed.
    activities.record_execution(_record(snapshot.execution_row, ids, "FAILED", ended=True))
    [again] = _nodes(catalog_db, snapshot.execution_row)
    assert (again.state, again.updated_at) == ("SUCCEEDED", node.updated_at)


def test_a_record_for_no_execution_is_refused_for_good(catalog_db: str) -> None:
    activities = ExecutionActivities(catalog_db)
    with pytest.raises(ApplicationError, match="no execution row 987654") as refused:
        activities.record_execution(_record(987654, [], "SUCCEEDED", ended=True))
    assert refused.value.non_retryable


def test_bookkeeping_tells_the_database_away_from_bad_data() -> None:
    from sqlalchemy.exc import DataError, OperationalError

    from activities.execution import _database_errors
    from workflows.models import DATABASE_UNAVAILABLE

    away = OperationalError("UPDATE …", {"token": "s3cret"}, Exception("connection refused"))
    with pytest.raises(ApplicationError) as waited, _database_errors():
        raise away
    assert (waited.value.type, waited.value.non_retryable) == (DATABASE_UNAVAILABLE, False)
    bad = DataError("UPDATE …", {"token": "s3cret"}, Exception("value too long\nDETAIL: …"))
    with pytest.raises(ApplicationError) as final, _database_errors():
        raise bad
    assert final.value.non_retryable and str(final.value.message) == (
        "bookkeeping refused: value too long"
    )  # the statement's values never travel
