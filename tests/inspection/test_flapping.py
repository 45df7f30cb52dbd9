"""Flapping thresholds and maintenance windows: the rules, then runs on the dev server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.inspection_state import next_state, transitions
from inspection.model import InspectionDoc, Window, parse_document
from tests.inspection.conftest import Inspect, http_plan


def _doc(fail_after: int, window: int, recover_after: int) -> InspectionDoc:
    return parse_document(
        http_plan("x", "http://x")
        | {"flapping": {"fail_after": fail_after, "window": window, "recover_after": recover_after}}
    )


@pytest.mark.parametrize(
    ("recent", "failing", "expected"),
    [
        ("PPF", False, False),  # 1 of the last 3 failed: not yet
        ("PFF", False, True),  # 2 of 3
        ("FPF", False, True),  # 2 of 3, not in a row
        ("FPPF", False, False),  # the first F left the window
        ("FFP", True, True),  # one pass: still failing (recover after 2)
        ("FPP", True, False),  # two passes in a row: recovered
        ("FWP", True, False),  # a warning counts as a pass
        ("PFP", True, True),
    ],
)
def test_fail_after_two_of_three_recover_after_two(
    recent: str, failing: bool, expected: bool
) -> None:
    assert next_state(recent, failing, _doc(2, 3, 2)) is expected


def test_four_changes_in_ten_results_is_flapping() -> None:
    assert transitions("PPPPPPPPPP") == 0
    assert transitions("PFPFPPPPPP") == 4
    assert transitions("FFFFFPPPPP") == 1


def test_maintenance_windows_recurring_and_one_off() -> None:
    weekly = Window(cron="0 2 * * SUN", duration="2h", time_zone="Asia/Shanghai")
    sunday_3am = datetime(2026, 12, 6, 3, 0, tzinfo=UTC) - timedelta(hours=8)
    assert weekly.covers(sunday_3am)
    assert not weekly.covers(sunday_3am + timedelta(hours=1, minutes=1))
    start = datetime(2026, 12, 24, tzinfo=UTC)
    once = Window(start=start, end=start + timedelta(hours=6))
    assert once.covers(start) and not once.covers(start + timedelta(hours=6))


def test_bad_thresholds_and_windows_name_the_field() -> None:
    from inspection.model import InspectionInvalid

    bad = http_plan("x", "http://x") | {
        "flapping": {"fail_after": 3, "window": 2},
        "maintenance": [
            {"cron": "0 2 * * SUN"},
            {"start": "2026-12-24T06:00:00+08:00", "end": "2026-12-24T00:00:00+08:00"},
            {"cron": "0 2 * * *", "duration": "2h", "checks": ["nope"]},
        ],
    }
    with pytest.raises(InspectionInvalid) as caught:
        parse_document(bad)
    reasons = {(p.path, p.reason) for p in caught.value.problems}
    assert ("flapping.fail_after", "cannot exceed window") in reasons
    assert ("maintenance[0]", "a recurring window needs both cron and duration") in reasons
    assert ("maintenance[1].end", "must be after start") in reasons
    assert ("maintenance[2].checks", "no check named 'nope'") in reasons


async def test_a_target_fails_after_two_of_three_runs_and_recovers_after_two(
    inspect: Inspect,
) -> None:
    name = inspect.name("flap")
    plan = http_plan(name, inspect.targets.url)
    plan["flapping"] = {"fail_after": 2, "window": 3, "recover_after": 2}
    await inspect.apply(plan)
    inspect.targets.status["pay"] = 500
    first = await inspect.run_now(name)
    assert (first.failed, first.new_failures, first.events_opened) == (1, 0, 0)
    second = await inspect.run_now(name)
    assert (second.new_failures, second.events_opened) == (1, 1)
    inspect.targets.status["pay"] = 200
    third = await inspect.run_now(name)
    assert (third.recoveries, third.still_failing) == (0, 1)
    fourth = await inspect.run_now(name)
    assert fourth.recoveries == 1
    event = inspect.query("select state, deliveries from risk_event where source = 'inspection'")
    assert [(e.state, e.deliveries) for e in event] == [("RESOLVED", 3)]


async def test_failures_in_a_maintenance_window_are_recorded_but_open_no_event(
    inspect: Inspect,
) -> None:
    name = inspect.name("maint")
    now = datetime.now(UTC)
    plan = http_plan(name, inspect.targets.url)
    plan["maintenance"] = [
        {
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
            "note": "patching",
        }
    ]
    await inspect.apply(plan)
    inspect.targets.status["pay"] = 500
    during = await inspect.run_now(name)
    assert (during.failed, during.events_opened) == (1, 0)
    assert inspect.query("select id from risk_event where source = 'inspection'") == []
    plan["maintenance"] = []
    await inspect.apply(plan)
    after = await inspect.run_now(name)
    assert after.events_opened == 1  # still failing once the window closed: now an event
    state = inspect.query(
        "select failing, risk_event_id from inspection_state where target like '%pay'"
    )
    assert state[0].failing and state[0].risk_event_id is not None
