"""The tables hold the domain's shapes: readable values, and the unique keys the domain implies."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import session_factory
from storage.enums import ExecutionState, NodeState, PlanType, Scene, StepType
from storage.models import Execution, ExecutionNode, Plan, PlanAction, PlanStep


def _action(code: str) -> PlanAction:
    return PlanAction(
        code=code,
        name=code.title(),
        category="GENERAL",
        scenes=[Scene.EMERGENCY],
        param_model="catalog.params.Wait",
        depends_on_configs=[],
        activity="wait",
        definition_hash="0" * 64,
    )


def _plan_with_step(session: Session) -> tuple[Plan, PlanStep]:
    action = _action("WAIT")
    plan = Plan(name="p", scene=Scene.EMERGENCY, type=PlanType.MAIN, atomic=True)
    session.add_all([action, plan])
    session.flush()
    step = PlanStep(
        plan_id=plan.id,
        name="wait a bit",
        type=StepType.ATOMIC_ACTION,
        atom_id=action.id,
        execute_order=1,
        execute_strategy={"preConfirm": False, "timeoutSeconds": 0},
        execute_context={"seconds": 5},
    )
    session.add(step)
    session.flush()
    return plan, step


def test_action_code_is_unique(db_url: str) -> None:
    with session_factory(db_url)() as session:
        session.add(_action("SCALE_OUT"))
        session.commit()
        session.add(_action("SCALE_OUT"))
        with pytest.raises(IntegrityError, match="uq_pre_plan_action_code"):
            session.commit()


def test_one_node_per_step_per_execution(db_url: str) -> None:
    with session_factory(db_url)() as session:
        plan, step = _plan_with_step(session)
        execution = Execution(
            execution_id="exec-1",
            plan_id=plan.id,
            plan_version=1,
            plan_snapshot={},
            state=ExecutionState.RUNNING,
            trigger_kind="OPERATOR",
            overrides={},
        )
        session.add(execution)
        session.flush()

        def node() -> ExecutionNode:
            return ExecutionNode(
                execute_order_id=execution.id,
                step_id=step.id,
                plan_id=plan.id,
                name=step.name,
                type=step.type,
                atom_id=step.atom_id,
                execute_order=1,
                state=NodeState.PENDING,
                parameters={},
                strategy={},
                pending_parameters=[],
                decisions=[],
            )

        session.add(node())
        session.commit()
        session.add(node())
        with pytest.raises(IntegrityError, match="uq_pre_plan_execute_node_execute_order_id"):
            session.commit()


def test_step_order_is_unique_within_a_plan(db_url: str) -> None:
    with session_factory(db_url)() as session:
        plan, step = _plan_with_step(session)
        session.commit()
        session.add(
            PlanStep(
                plan_id=plan.id,
                name="again",
                type=StepType.ATOMIC_ACTION,
                atom_id=step.atom_id,
                execute_order=1,
                execute_strategy={},
            )
        )
        with pytest.raises(IntegrityError, match="uq_pre_plan_step_plan_id"):
            session.commit()


def test_values_are_stored_as_readable_text_and_json(db_url: str) -> None:
    with session_factory(db_url)() as session:
        plan, _ = _plan_with_step(session)
        session.commit()
        row = session.execute(
            text(
                "select p.scene, p.type, s.type, s.execute_strategy->>'preConfirm', "
                "s.execute_context->>'seconds' from pre_plan p join pre_plan_step s "
                "on s.plan_id = p.id where p.id = :id"
            ),
            {"id": plan.id},
        ).one()
    assert tuple(row) == ("EMERGENCY", "MAIN", "ATOMIC_ACTION", "false", "5")


def test_step_must_belong_to_an_existing_plan(db_url: str) -> None:
    with session_factory(db_url)() as session:
        session.add(
            PlanStep(
                plan_id=987654,
                name="orphan",
                type=StepType.ATOMIC_ACTION,
                atom_id=1,
                execute_order=1,
                execute_strategy={},
            )
        )
        with pytest.raises(IntegrityError, match="fk_pre_plan_step_plan_id_pre_plan"):
            session.commit()
