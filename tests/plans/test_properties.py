"""Random plans: valid ones round-trip through the database and YAML, invalid ones write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from catalog.registry import ACTIONS_BY_CODE
from plans import files, store
from plans.validation import PlanInvalid, parse_document
from tests.plans.conftest import counts
from tests.plans.samples import SAMPLE_PARAMS

SCENES = ["EMERGENCY", "SELF_RECOVERY", "RECOVERY"]
SUB_TYPES = ["DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK"]
names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40
).filter(str.strip)
strategies = st.fixed_dictionaries(
    {},
    optional={
        "preConfirm": st.booleans(),
        "timeoutSeconds": st.integers(0, 86_400),
        "onTimeout": st.sampled_from(["FAIL", "SKIP", "ABORT"]),
        "onFailure": st.sampled_from(["WAIT", "CONTINUE", "ABORT"]),
        "confirmers": st.lists(
            st.sampled_from(["alice", "role:duty-manager", "bob"]), max_size=2, unique=True
        ),
        "approvals": st.integers(1, 3),
    },
)


@st.composite
def steps(draw: st.DrawFn, scene: str) -> list[dict[str, Any]]:
    allowed = sorted(c for c, s in ACTIONS_BY_CODE.items() if scene in [str(x) for x in s.scenes])
    count = draw(st.integers(1, 5))
    chosen = draw(st.lists(st.sampled_from(allowed), min_size=count, max_size=count))
    result = []
    for index, code in enumerate(chosen):
        params = dict(SAMPLE_PARAMS[code])
        optional = [
            n
            for n, f in ACTIONS_BY_CODE[code].params.model_fields.items()
            if not f.is_required() and n in params
        ]
        pending = draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
        for name in pending:
            params.pop(name, None)
        result.append(
            {
                "name": f"{index + 1} {draw(names)}",
                "action": code,
                "params": params,
                "pending": pending,
                "strategy": draw(strategies),
            }
        )
    return result


@st.composite
def valid_plans(draw: st.DrawFn) -> dict[str, Any]:
    scene = draw(st.sampled_from(SCENES))
    plan: dict[str, Any] = {
        "name": draw(names),
        "scene": scene,
        "description": draw(st.none() | names),
        "enabled": draw(st.booleans()),
    }
    if scene != "RECOVERY":
        plan["steps"] = draw(steps(scene))
        return plan
    types = draw(st.lists(st.sampled_from(SUB_TYPES), min_size=1, max_size=3, unique=True))
    plan["sub_plans"] = [{"type": t, "steps": draw(steps(scene))} for t in types]
    plan["layer"] = draw(st.none() | st.sampled_from(["APPLICATION", "DATA"]))
    return plan


def _corrupt(plan: dict[str, Any], how: str) -> dict[str, Any]:
    first = (plan["steps"] if plan.get("steps") else plan["sub_plans"][0]["steps"])[0]
    if how == "unknown action":
        first["action"] = "NO_SUCH_ACTION"
    elif how == "bad parameter":
        first["params"]["no_such_param"] = 1
    elif how == "strategy key":
        first["strategy"]["retries"] = 3
    elif how == "empty":
        plan["steps"], plan["sub_plans"] = [], []
    elif how == "sub-plans":
        plan["scene"] = "RECOVERY"
        plan["sub_plans"] = [{"type": "TRAFFIC_BACK", "steps": [first]}] * 2
        plan["steps"] = []
    return plan


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=valid_plans())
def test_random_valid_plans_round_trip(session: Session, data: dict[str, Any]) -> None:
    try:
        document = parse_document(data)
        result = store.apply(session, document)
        exported = store.export(session, result.plan_id)
        assert exported == store.canonical(document)
        assert files.read_text(files.to_yaml(exported)) == exported
        assert store.apply(session, exported).outcome == "unchanged"
    finally:
        session.rollback()


@SETTINGS
@given(
    data=valid_plans(),
    how=st.sampled_from(["unknown action", "bad parameter", "strategy key", "empty", "sub-plans"]),
)
def test_random_invalid_plans_are_rejected_without_writing(
    session: Session, data: dict[str, Any], how: str
) -> None:
    with pytest.raises(PlanInvalid) as caught:
        store.apply(session, parse_document(_corrupt(data, how)))
    session.rollback()
    assert caught.value.problems
    assert counts(session) == (0, 0)
