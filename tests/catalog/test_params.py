"""Parameter models validate plan steps, pending parameters and overrides with field paths."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.actions import ACTIONS, HttpCallParams, InstanceParams, ScaleParams
from catalog.params import check_parameters, describe


def test_valid_parameters_have_no_problems() -> None:
    assert check_parameters(ScaleParams, {"app": "loan-api", "pods": 3}) == []


def test_every_problem_is_reported_with_its_field() -> None:
    problems = check_parameters(ScaleParams, {"app": "Loan API!", "pods": 0, "color": "red"})
    by_field = {p.field: p.reason for p in problems}
    assert set(by_field) == {"app", "pods", "color"}
    assert "pattern" in by_field["app"]
    assert "greater than or equal to 1" in by_field["pods"]
    assert by_field["color"] == "unknown parameter"


def test_pending_parameters_may_be_missing_but_not_wrong() -> None:
    assert check_parameters(ScaleParams, {"app": "loan-api"}, may_be_missing={"pods"}) == []
    problems = check_parameters(
        ScaleParams, {"app": "loan-api", "pods": -1}, may_be_missing={"pods"}
    )
    assert [p.field for p in problems] == ["pods"]
    missing = check_parameters(ScaleParams, {"app": "loan-api"})
    assert [(p.field, p.reason) for p in missing] == [("pods", "Field required")]


def test_empty_instance_means_all_and_is_valid() -> None:
    assert check_parameters(InstanceParams, {"app": "loan-api"}) == []
    assert InstanceParams.model_validate({"app": "loan-api"}).instance is None


def test_nested_entries_report_their_path() -> None:
    problems = check_parameters(
        HttpCallParams, {"url": "https://x.bank/ping", "headers": [{"key": "a"}]}
    )
    assert [p.field for p in problems] == ["headers.0.value"]


def test_every_declared_action_describes_each_field_with_a_display_name() -> None:
    for spec in ACTIONS:
        infos = describe(spec.params)
        assert [i.name for i in infos] == sorted(
            spec.params.model_fields, key=lambda n: [i.name for i in infos].index(n)
        )
        for info in infos:
            assert info.display_name and info.description, (spec.code, info.name)
        assert [i.display_order for i in infos] == sorted(i.display_order for i in infos)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    spec_index=st.integers(0, len(ACTIONS) - 1),
    values=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)
def test_any_input_is_either_accepted_or_rejected_with_named_fields(
    spec_index: int, values: dict[str, Any]
) -> None:
    spec = ACTIONS[spec_index]
    problems = check_parameters(spec.params, values)
    if problems:
        assert all(p.field and p.reason for p in problems)
    else:
        spec.params.model_validate(values)  # accepted means the model really accepts it
