"""Creating an execution is idempotent: a retried creation whose first answer was lost
returns the same snapshot and writes nothing twice."""

from __future__ import annotations

from sqlalchemy import func, select

from activities.execution import ExecutionActivities
from plans import store
from plans.model import PlanDocument
from storage.db import session_factory
from storage.models import Execution, ExecutionNode
from workflows.models import ExecutionInput


def test_a_retried_creation_returns_the_same_snapshot(catalog_db: str) -> None:
    with session_factory(catalog_db)() as session:
        steps = [{"name": "a", "action": "CHECKPOINT"},
                 {"name": "b", "action": "WAIT", "params": {"seconds": 1}}]  # fmt: skip
        plan = {"name": "twice", "scene": "EMERGENCY", "steps": steps}
        store.apply(session, PlanDocument.model_validate(plan))
        session.commit()
    activities = ExecutionActivities(catalog_db)
    first = activities._create("exec-twice", ExecutionInput(plan="twice"))
    again = activities._create("exec-twice", ExecutionInput(plan="twice"))
    assert again == first and [n.key for n in again.nodes] == ["1", "2"]
    with session_factory(catalog_db)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 1
        assert session.scalar(select(func.count()).select_from(ExecutionNode)) == 2
