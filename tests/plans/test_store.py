"""Plans are stored in the domain's shapes, in one transaction, and read back unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from plans import files, store
from plans.model import PlanDocument
from plans.validation import PlanInvalid
from storage.models import Plan, PlanStep
from tests.plans.conftest import counts
from tests.plans.samples import emergency, recovery, step


def _rows(session: Session, plan_id: int) -> list[PlanStep]:
    return list(
        session.scalars(
            select(PlanStep)
            .where(PlanStep.plan_id == plan_id, PlanStep.deleted_at.is_(None))
            .order_by(PlanStep.execute_order)
        )
    )


@pytest.mark.parametrize("scene", ["EMERGENCY", "SELF_RECOVERY"])
def test_emergency_and_self_recovery_plans_are_one_main_row_and_their_steps(
    session: Session, scene: str
) -> None:
    document = PlanDocument.model_validate(
        {
            "name": "p",
            "scene": scene,
            "steps": [step("RATE_LIMIT_APPLY"), step("WAIT", strategy={"preConfirm": True})],
        }
    )
    result = store.apply(session, document)
    session.commit()
    assert counts(session) == (1, 2)
    main = session.get(Plan, result.plan_id)
    assert main is not None
    assert (main.scene, main.type, main.atomic, main.group_id, main.layer, main.version) == (
        scene,
        "MAIN",
        True,
        None,
        None,
        1,
    )
    first, second = _rows(session, main.id)
    assert (first.type, first.execute_order, second.execute_order) == ("ATOMIC_ACTION", 1, 2)
    assert first.execute_strategy == {"preConfirm": False, "timeoutSeconds": 0}
    assert second.execute_strategy == {"preConfirm": True, "timeoutSeconds": 0}
    assert first.execute_context == {"service": "loan", "resource": "/apply", "qps": 50}


@pytest.mark.parametrize(
    "sub_types",
    [
        ("DISASTER_RECOVERY",),
        ("DISASTER_SWITCH", "TRAFFIC_BACK"),
        ("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK"),
    ],
)
def test_dr_plan_with_n_sub_types_writes_1_plus_n_plans_and_n_plus_m_steps(
    session: Session, sub_types: tuple[str, ...]
) -> None:
    n, steps_each = len(sub_types), 2
    result = store.apply(session, recovery(sub_types=sub_types, steps_each=steps_each))
    session.commit()
    m = n * steps_each
    assert counts(session) == (1 + n, n + m)
    main = session.get(Plan, result.plan_id)
    assert main is not None
    assert (main.type, main.atomic, main.group_id, main.layer) == (
        "MAIN",
        False,
        "grp-1",
        "APPLICATION",
    )
    templates = _rows(session, main.id)
    assert [t.name for t in templates] == list(sub_types)
    assert [t.execute_order for t in templates] == list(range(1, n + 1))
    for template in templates:
        assert template.type == "PRE_PLAN_TEMPLATE"
        assert template.execute_strategy == {"preConfirm": True, "timeoutSeconds": 0}
        assert template.execute_context is None
        sub = session.get(Plan, template.atom_id)
        assert sub is not None
        assert (sub.type, sub.atomic, sub.group_id, sub.layer, sub.scene) == (
            template.name,
            True,
            "grp-1",
            "APPLICATION",
            "RECOVERY",
        )
        sub_steps = _rows(session, sub.id)
        assert [s.execute_order for s in sub_steps] == [1, 2]
        assert all(s.type == "ATOMIC_ACTION" for s in sub_steps)


def test_sub_plans_run_in_the_fixed_order_whatever_the_file_says(session: Session) -> None:
    result = store.apply(session, recovery(sub_types=("TRAFFIC_BACK", "DISASTER_SWITCH")))
    templates = _rows(session, result.plan_id)
    assert [t.name for t in templates] == ["DISASTER_SWITCH", "TRAFFIC_BACK"]


def test_applying_the_same_plan_twice_changes_nothing(session: Session) -> None:
    store.apply(session, recovery())
    session.commit()
    versions = text(
        "select 's' || id, xmin::text from pre_plan_step union all "
        "select 'p' || id, xmin::text from pre_plan order by 1"
    )
    before = session.execute(versions).all()
    result = store.apply(session, recovery())
    session.commit()
    assert result.outcome == "unchanged"
    assert result.version == 1
    assert session.execute(versions).all() == before


def test_edit_bumps_the_version_keeps_rows_and_marks_removed_steps(session: Session) -> None:
    first = store.apply(
        session, emergency(steps=[step("WAIT", "a"), step("WAIT", "b"), step("WAIT", "c")])
    )
    ids = [row.id for row in _rows(session, first.plan_id)]
    second = store.apply(session, emergency(steps=[step("NOTIFY", "a2"), step("WAIT", "b")]))
    session.commit()
    assert (second.outcome, second.version, second.plan_id) == ("updated", 2, first.plan_id)
    live = _rows(session, first.plan_id)
    assert [(row.id, row.name) for row in live] == [(ids[0], "a2"), (ids[1], "b")]
    removed = session.get(PlanStep, ids[2])
    assert removed is not None and removed.deleted_at is not None
    # Growing again reuses the removed row.
    store.apply(session, emergency(steps=[step("WAIT", "a"), step("WAIT", "b"), step("WAIT", "c")]))
    assert [row.id for row in _rows(session, first.plan_id)] == ids


def test_removing_a_sub_plan_keeps_its_rows_marked(session: Session) -> None:
    result = store.apply(session, recovery())
    store.apply(session, recovery(sub_types=("DISASTER_SWITCH", "TRAFFIC_BACK")))
    session.commit()
    assert counts(session) == (1 + 2, 2 + 4)
    gone = session.scalar(select(Plan).where(Plan.type == "DISASTER_RECOVERY"))
    assert gone is not None and gone.deleted_at is not None
    document = store.export(session, result.plan_id)
    assert [sub.type for sub in document.sub_plans] == ["DISASTER_SWITCH", "TRAFFIC_BACK"]


def test_scene_of_an_existing_plan_cannot_change(session: Session) -> None:
    store.apply(session, emergency(name="same"))
    changed = PlanDocument.model_validate(
        {"name": "same", "scene": "SELF_RECOVERY", "steps": [step("WAIT")]}
    )
    with pytest.raises(PlanInvalid) as caught:
        store.apply(session, changed)
    assert caught.value.problems[0].path == "scene"


def test_pending_parameters_are_stored_and_the_plan_is_valid_without_them(
    session: Session,
) -> None:
    document = emergency(
        steps=[
            {
                "name": "grow",
                "action": "APP_SCALE_OUT",
                "params": {"app": "loan-api"},
                "pending": ["pods"],
            }
        ]
    )
    result = store.apply(session, document)
    (row,) = _rows(session, result.plan_id)
    assert row.pending_params == ["pods"]
    assert row.execute_context == {"app": "loan-api"}
    assert store.export(session, result.plan_id).steps[0].pending == ["pods"]


@pytest.mark.parametrize(
    "document",
    [emergency(), recovery(), recovery(sub_types=("DISASTER_RECOVERY",), steps_each=3)],
    ids=["emergency", "dr-3", "dr-1"],
)
def test_export_then_apply_round_trips_through_yaml(
    session: Session, document: PlanDocument
) -> None:
    created = store.apply(session, document)
    exported = store.export(session, created.plan_id)
    text_form = files.to_yaml(exported)
    assert files.read_text(text_form) == exported
    assert store.apply(session, files.read_text(text_form)).outcome == "unchanged"
    assert exported == store.canonical(document)


def test_delete_frees_the_name_and_keeps_the_rows(session: Session) -> None:
    first = store.apply(session, emergency(name="reused"))
    store.delete(session, first.plan_id, by="auditor")
    second = store.apply(session, emergency(name="reused"))
    assert second.plan_id != first.plan_id
    assert session.get(Plan, first.plan_id) is not None
