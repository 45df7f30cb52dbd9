"""Inspection runs end to end: a worker on the dev server, real HTTP targets, PostgreSQL."""

from __future__ import annotations

import json

from tests.inspection.conftest import Inspect, http_plan


async def test_a_run_stores_results_and_opens_one_event_per_failing_target(
    inspect: Inspect,
) -> None:
    name = inspect.name("core")
    inspect.targets.status["pay"] = 503
    applied = await inspect.apply(http_plan(name, inspect.targets.url))
    assert (applied["outcome"], applied["schedule"]) == ("created", "created")

    first = await inspect.run_now(name)
    assert (first.checks, first.passed, first.failed) == (2, 1, 1)
    assert (first.new_failures, first.events_opened) == (1, 1)
    results = await inspect.results_of(first.run_id)
    loan, pay = results[("loan-api", f"{inspect.targets.url}/t/loan")], None
    pay = results[("pay-api", f"{inspect.targets.url}/t/pay")]
    assert loan.outcome == "PASS" and loan.observed["status"] == 200
    assert pay.outcome == "FAIL"
    assert pay.failures == ["status < 400 (observed 503)"]

    second = await inspect.run_now(name)
    assert (second.new_failures, second.still_failing, second.events_opened) == (0, 1, 0)
    events = inspect.query(
        "select id, state, deliveries, severity, resource, last_value, sources from risk_event "
        "where source = 'inspection'"
    )
    assert len(events) == 1, events
    event = events[0]
    assert (event.state, event.deliveries, event.severity) == ("OPEN", 2, "major")
    assert event.resource.startswith("endpoint:127.0.0.1:")
    assert event.last_value == "status < 400 (observed 503)"
    assert event.sources == ["inspection"]
    linked = inspect.query("select run_id from risk_event_run where risk_event_id = :e", e=event.id)
    assert {row.run_id for row in linked} == {first.run_id, second.run_id}

    inspect.targets.status["pay"] = 200
    third = await inspect.run_now(name)
    assert (third.recoveries, third.failed) == (1, 0)
    resolved = inspect.query("select state, reason from risk_event where id = :e", e=event.id)[0]
    assert resolved.state == "RESOLVED" and "recovered" in resolved.reason
    run = inspect.query("select trigger, changes from inspection_run where id = :r", r=third.run_id)
    assert run[0].trigger == "MANUAL"
    assert json.dumps(run[0].changes["recoveries"]).count("pay-api") == 1


async def test_the_schedule_itself_triggers_a_run_recorded_as_scheduled(inspect: Inspect) -> None:
    name = inspect.name("trigger")
    await inspect.apply(http_plan(name, inspect.targets.url))
    handle = inspect.env.client.get_schedule_handle(f"inspect-{name}")
    await handle.trigger()
    runs = await inspect.until_runs(name, 1)
    assert [(r.trigger, r.checks) for r in runs] == [("SCHEDULE", 2)]
    assert runs[0].scheduled_at is not None
    described = await handle.describe()
    assert described.info.num_actions == 1
