"""Every validation problem is reported at once, with its path, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from catalog.actions import ACTIONS
from catalog.sync import sync_catalog
from plans import files, store
from plans.model import PlanDocument
from plans.validation import MAX_STEPS, PlanInvalid, code_catalog, parse_document, validate
from tests.plans.conftest import counts
from tests.plans.samples import SAMPLE_PARAMS, emergency, step


def _rejected(session: Session, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(PlanInvalid) as caught:
        store.apply(session, parse_document(data))
    session.rollback()
    assert counts(session) == (0, 0), "nothing may be written"
    return {p.path: p.reason for p in caught.value.problems}


def _plan(scene: str = "EMERGENCY", **fields: Any) -> dict[str, Any]:
    return {"name": "bad plan", "scene": scene, "steps": [step("WAIT")], **fields}


def _dr(*sub_types: str) -> dict[str, Any]:
    return {
        "name": "bad dr",
        "scene": "RECOVERY",
        "sub_plans": [{"type": t, "steps": [step("WAIT")]} for t in sub_types],
    }


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        (
            _plan(steps=[step("WAIT") | {"action": "TELEPORT"}]),
            "steps[1].action",
            "unknown action 'TELEPORT'",
        ),
        (
            _plan("SELF_RECOVERY", steps=[step("MANUAL_STEP")]),
            "steps[1].action",
            "not allowed in SELF_RECOVERY plans",
        ),
        (
            _plan(
                steps=[step("WAIT"), step("APP_SCALE_OUT") | {"params": {"app": "x", "pods": 0}}]
            ),
            "steps[2].params.pods",
            "greater than or equal to 1",
        ),
        (
            _plan(steps=[step("WAIT") | {"params": {"seconds": 5, "colour": "red"}}]),
            "steps[1].params.colour",
            "unknown parameter",
        ),
        (
            _plan(steps=[step("WAIT") | {"strategy": {"preconfirm": True}}]),
            "steps[1].strategy.preconfirm",
            "unknown key",
        ),
        (
            _plan(steps=[step("WAIT") | {"strategy": {"timeoutSeconds": -1}}]),
            "steps[1].strategy.timeoutSeconds",
            "greater than or equal to 0",
        ),
        (_plan(steps=[]), "steps", "an empty plan"),
        (_plan(steps=[step("WAIT", "same"), step("WAIT", "same")]), "steps[2].name", "repeats"),
        (_plan(group_id="g"), "group_id", "used only by disaster-recovery plans"),
        (
            _plan(steps=[step("WAIT") | {"pending": ["minutes"]}]),
            "steps[1].pending",
            "'minutes' is not a parameter of WAIT",
        ),
        (_dr(), "sub_plans", "needs 1 to 3 sub-plans, got 0"),
        (
            _dr("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK", "TRAFFIC_BACK"),
            "sub_plans",
            "got 4",
        ),
        (_dr("DISASTER_SWITCH", "DISASTER_SWITCH"), "sub_plans[DISASTER_SWITCH]", "more than once"),
        (
            {
                "name": "x",
                "scene": "RECOVERY",
                "sub_plans": [{"type": "TRAFFIC_BACK", "steps": []}],
            },
            "sub_plans[TRAFFIC_BACK].steps",
            "at least one step",
        ),
        (
            {
                "name": "x",
                "scene": "RECOVERY",
                "sub_plans": [
                    {
                        "type": "TRAFFIC_BACK",
                        "steps": [step("APP_SCALE_IN") | {"params": {"app": "A!"}}],
                    }
                ],
            },
            "sub_plans[TRAFFIC_BACK].steps[1].params.app",
            "pattern",
        ),
    ],
)
def test_each_problem_names_its_path(
    session: Session, data: dict[str, Any], path: str, reason: str
) -> None:
    problems = _rejected(session, data)
    assert path in problems, problems
    assert reason in problems[path]


def test_all_problems_are_reported_at_once(session: Session) -> None:
    problems = _rejected(
        session,
        _plan(
            steps=[
                step("TELEPORT" if False else "WAIT") | {"action": "TELEPORT"},
                step("APP_SCALE_OUT") | {"params": {"app": "x"}},
                step("WAIT", "w") | {"strategy": {"retry": 3}},
            ]
        ),
    )
    assert set(problems) == {"steps[1].action", "steps[2].params.pods", "steps[3].strategy.retry"}


def test_retired_action_names_plan_step_and_action(session: Session) -> None:
    sync_catalog(session, tuple(s for s in ACTIONS if s.code != "WAIT"), "9.0.0")
    session.commit()
    problems = _rejected(session, _plan())
    assert problems["steps[1].action"] == "action WAIT was retired in version 9.0.0"


def test_hidden_action_is_refused_with_the_reason(db_url: str) -> None:
    from runtime.init_tasks import INIT_TASKS
    from runtime.initialisation import InitContext, run_tasks
    from storage.db import session_factory

    run_tasks(db_url, INIT_TASKS, InitContext("0.1.0", "test", "test:1"))
    with session_factory(db_url)() as session:
        problems = _rejected(session, _plan(steps=[step("APP_SCALE_OUT")]))
    assert problems["steps[1].action"] == (
        "action APP_SCALE_OUT is not available: needs system config platform.dap.base_url (not set)"
    )


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("name: [unclosed", "line 1, column 16"),
        ("- just\n- a list\n", "(file)"),
        ("name: x\nscene: NIGHTLY\nsteps: []\n", "scene"),
        ("name: x\nscene: EMERGENCY\nstep: []\n", "step"),
        ("name: x\nscene: EMERGENCY\nsteps:\n  - name: a\n", "steps[1].action"),
    ],
)
def test_broken_files_are_reported_with_a_location(text: str, path: str) -> None:
    with pytest.raises(PlanInvalid) as caught:
        files.read_text(text)
    assert caught.value.problems[0].path == path


def test_every_action_sample_is_valid() -> None:
    for spec in ACTIONS:
        spec.params.model_validate(SAMPLE_PARAMS[spec.code])
    assert PlanDocument.model_json_schema()["title"] == "Nightwatch plan"


def test_a_plan_larger_than_the_engine_runs_is_refused() -> None:
    document = emergency(steps=[step("CHECKPOINT", f"s{i}") for i in range(MAX_STEPS + 1)])
    problems = validate(document, code_catalog())
    assert [(p.path, p.reason) for p in problems] == [
        ("steps", f"{MAX_STEPS + 1} steps; a plan holds at most {MAX_STEPS} (split it into plans)")
    ]
    assert (
        validate(emergency(steps=[step("CHECKPOINT", f"s{i}") for i in range(500)]), code_catalog())
        == []
    )


def test_an_unknown_strategy_key_in_a_plan_file_is_refused_naming_it() -> None:
    document = emergency(steps=[step("WAIT", "w") | {"strategy": {"preconfirm": True}}])
    problems = validate(document, code_catalog())
    assert [(p.path, p.reason) for p in problems] == [
        ("steps[1].strategy.preconfirm", "unknown key")
    ]
