"""The conditions parser: the documented forms, clear errors with positions, fuzzed."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.conditions import ConditionError, parse

OBSERVED: dict[str, Any] = {
    "status": 200,
    "response_time": 412.5,
    "body": "all OK here",
    "json": {"status": "UP", "items": [{"state": "RUNNING"}, {"state": "Pending"}]},
    "cert_days": 3.2,
    "value": 0.97,
    "connected": True,
    "answers": ["10.0.0.1", "10.0.0.2"],
}


@pytest.mark.parametrize(
    ("text", "passed", "observed"),
    [
        ("status == 200", True, "200"),
        ("status != 200", False, "200"),
        ("status == 2xx", False, "200"),
        ("response_time < 300ms", False, "412.5ms"),
        ("response_time < 1s", True, "412.5ms"),
        ("cert_days > 14", False, "3.2"),
        ("cert_days>=3", True, "3.2"),
        ("value > 95%", True, "0.97"),
        ("value <= 0.95", False, "0.97"),
        ("json.status == UP", True, "'UP'"),
        ('json.status == "DOWN"', False, "'UP'"),
        ("json.items[1].state in [RUNNING, STARTING]", False, "'Pending'"),
        ("json.items[-2].state in [RUNNING]", True, "'RUNNING'"),
        ("len(json.items) >= 2", True, "2"),
        ("len(answers) > 0", True, "2"),
        ("answers contains 10.0.0.2", True, "['10.0.0.1', '10.0.0.2']"),
        ('body contains "OK"', True, "'all OK here'"),
        ('body !contains "ERROR"', True, "'all OK here'"),
        ('body =~ "^all\\s+OK"', True, "'all OK here'"),
        ("body !~ 'OK'", False, "'all OK here'"),
        ("connected == true", True, "True"),
        ("json.missing == UP", False, "nothing"),
        ("json.items[9].state == UP", False, "nothing"),
        ("json.status != null", True, "'UP'"),
    ],
)
def test_documented_forms_evaluate_and_report_what_was_observed(
    text: str, passed: bool, observed: str
) -> None:
    outcome = parse(text).evaluate(OBSERVED)
    assert outcome.passed is passed
    assert outcome.describe() == f"{text.strip()} (observed {observed})"


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("", 1, "expected a subject"),
        ("status", 7, "expected an operator"),
        ("status ==", 10, "expected a value"),
        ("response_time < 3q", 17, "< compares numbers; '3q' is not one"),
        ("status < UP", 10, "< compares numbers"),
        ('body contains "OK', 15, "no closing"),
        ('body =~ "("', 9, "not a regular expression"),
        ("status == 200 and x", 15, "unexpected text after the condition"),
        ("json.items[x] == 1", 12, "list index"),
        ("len(status == 1", 12, "')' to close len("),
        ("status in [1, 2", 16, "expected ',' or ']'"),
        ("1 == status", 1, "expected a subject"),
    ],
)
def test_bad_conditions_name_the_position_and_what_was_expected(
    text: str, position: int, reason: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert caught.value.position + 1 == position, str(caught.value)
    assert reason in caught.value.reason
    assert f"at position {position} of" in str(caught.value)


def test_a_condition_is_one_line_of_bounded_length() -> None:
    with pytest.raises(ConditionError, match="one condition per line"):
        parse("status == 200\nbody contains x")
    with pytest.raises(ConditionError, match="longer than 500"):
        parse("status == " + "9" * 600)


ALPHABET = st.sampled_from(
    [*list("abcxyz_ .[]()0123456789-+%\"'=!<>~,\\^$*?\n\t"), "ms", "len", "in", "contains"]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_fuzzed_text_parses_or_is_a_clear_error_naming_the_position(text: str) -> None:
    try:
        condition = parse(text)
    except ConditionError as exc:
        assert 0 <= exc.position <= max(len(text), 500)
        assert "at position" in exc.reason
        return
    condition.evaluate(OBSERVED)  # whatever parses also evaluates without an exception


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=60))
def test_fuzzed_unicode_never_raises_anything_but_a_condition_error(text: str) -> None:
    with contextlib.suppress(ConditionError):
        parse(text).evaluate(OBSERVED)
