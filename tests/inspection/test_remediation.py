"""Failed checks go through the alert routing rules: a rule starts a SELF_RECOVERY plan
(the check runs again when it ends and the event says whether it fixed it) or proposes a
plan (shown with the event; nothing starts). An alert and a failed check on the same
resource are one risk event with both sources."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from intake.app import create_app as create_intake
from intake.rules import RuleDoc, save_rule
from nightwatch.config import load_settings
from plans import store as plans
from plans.model import PlanDocument
from storage.db import session_factory
from storage.models import Execution
from tests.inspection.conftest import Inspect
from tests.support import serve, token_for
from workflows.inspection import RunSummary

PLAN = "rebuild stopped pods"
REBUILD: dict[str, Any] = {
    "name": PLAN,
    "scene": "SELF_RECOVERY",
    "steps": [
        {"name": "rebuild", "action": "CONTAINER_INSTANCE_REBUILD", "params": {"app": "loan-api"}},
        {"name": "settle", "action": "WAIT", "params": {"seconds": 1}},
    ],
}


def _pods_plan(name: str) -> dict[str, Any]:
    return {
        "format": "nightwatch/inspection/v1",
        "name": name,
        "schedule": {"every": "1h"},
        "checks": [
            {
                "name": "pods",
                "kind": "app_instances",
                "severity": "critical",
                "params": {"app": "loan-api"},
            }
        ],
    }


def _rule(db: str, plan: str, name: str, **fields: Any) -> None:
    doc = RuleDoc.model_validate(
        {
            "name": name,
            "plan": plan,
            "match": [
                {"label": "source", "value": "inspection"},
                {"label": "check", "value": "pods"},
            ],
            "params": {"1": {"app": "{labels.target}"}},
            **fields,
        }
        if "params" not in fields
        else {
            "name": name,
            "plan": plan,
            "match": [
                {"label": "source", "value": "inspection"},
                {"label": "check", "value": "pods"},
            ],
            **fields,
        }
    )
    with session_factory(db)() as session:
        plans.apply(session, PlanDocument.model_validate(REBUILD))
        save_rule(session, doc)
        session.commit()


async def test_a_failed_check_starts_the_plan_and_the_recheck_says_it_fixed_it(
    inspect: Inspect,
) -> None:
    _rule(inspect.db, PLAN, "rebuild on failed pods")
    name = inspect.name("pods")
    await inspect.apply(_pods_plan(name))
    summary = await inspect.run_now(name)
    assert summary.failed == 1 and len(summary.started) == 1
    execution = summary.started[0]
    event = inspect.query(
        "select id, outcome, plan_name, execution_id from risk_event where source = 'inspection'"
    )[0]
    assert (event.outcome, event.plan_name, event.execution_id) == (
        "STARTED",
        PLAN,
        execution,
    )
    recheck = inspect.env.client.get_workflow_handle(f"recheck-{execution}", result_type=RunSummary)
    rechecked = await asyncio.wait_for(recheck.result(), 120)
    assert (rechecked.checks, rechecked.passed, rechecked.recoveries) == (1, 1, 1)
    after = inspect.query("select state, remediation from risk_event where id = :e", e=event.id)
    assert after[0].remediation == f"fixed by execution {execution}"
    assert after[0].state == "RESOLVED"
    runs = inspect.query(
        "select trigger from inspection_run r join risk_event_run l on l.run_id = r.id "
        "where l.risk_event_id = :e order by r.id",
        e=event.id,
    )
    assert [r.trigger for r in runs] == ["MANUAL", "RECHECK"]
    with session_factory(inspect.db)() as session:
        row = session.scalar(select(Execution).where(Execution.execution_id == execution))
        assert row is not None and row.state == "SUCCEEDED"
        assert row.trigger_kind == "ALERT" and row.triggered_by == f"inspection:{name}"

    again = await inspect.run_now(name)  # fixed: nothing new fails, nothing starts again
    assert (again.failed, again.started) == (0, [])


async def test_a_plan_that_does_not_fix_it_is_recorded_as_such(inspect: Inspect) -> None:
    with session_factory(inspect.db)() as session:
        plans.apply(
            session,
            PlanDocument.model_validate(
                {
                    "name": "look only",
                    "scene": "SELF_RECOVERY",
                    "steps": [{"name": "look", "action": "CHECKPOINT", "params": {"note": "x"}}],
                }
            ),
        )
        session.commit()
    _rule(inspect.db, "look only", "look at failed pods", params={})
    name = inspect.name("nofix")
    await inspect.apply(_pods_plan(name))
    summary = await inspect.run_now(name)
    execution = summary.started[0]
    recheck = inspect.env.client.get_workflow_handle(f"recheck-{execution}", result_type=RunSummary)
    rechecked = await asyncio.wait_for(recheck.result(), 120)
    assert (rechecked.failed, rechecked.recoveries) == (1, 0)
    event = inspect.query("select state, remediation from risk_event where source = 'inspection'")
    assert [(e.state, e.remediation) for e in event] == [
        ("OPEN", f"still failing after execution {execution}")
    ]


async def test_a_rule_that_proposes_starts_nothing_and_shows_the_plan(inspect: Inspect) -> None:
    _rule(inspect.db, PLAN, "propose a rebuild", action="propose")
    name = inspect.name("propose")
    await inspect.apply(_pods_plan(name))
    summary = await inspect.run_now(name)
    assert summary.failed == 1 and summary.started == []
    event = inspect.query(
        "select outcome, plan_name, execution_id from risk_event where source = 'inspection'"
    )[0]
    assert (event.outcome, event.plan_name, event.execution_id) == ("PROPOSED", PLAN, None)
    event_id = inspect.query("select id from risk_event where source = 'inspection'")[0].id
    target = inspect.env.client.service_client.config.target_host
    settings = load_settings(
        database_url=inspect.db, temporal_address=target, task_queue=inspect.queue
    )
    viewer = token_for(inspect.db, "watcher", ["viewer"])
    operator = token_for(inspect.db, "li.wei", ["operator"])
    with serve(create_intake(settings)) as intake:
        async with httpx.AsyncClient(base_url=intake, timeout=60) as http:
            path = f"/api/v1/risk-events/{event_id}/start-plan"
            refused = await http.post(path, headers={"Authorization": f"Bearer {viewer}"})
            assert refused.status_code == 403
            started = await http.post(path, headers={"Authorization": f"Bearer {operator}"})
            assert started.status_code == 200, started.text
            assert started.json()["execution_id"] == f"proposed-{event_id}"
            again = await http.post(path, headers={"Authorization": f"Bearer {operator}"})
            assert again.status_code == 409 and again.json()["error"] == "AlreadyStarted"
            story = (
                await http.get(
                    f"/api/v1/risk-events/{event_id}", headers={"Authorization": f"Bearer {viewer}"}
                )
            ).json()
    assert [run["trigger"] for run in story["runs"]] == ["MANUAL"]
    handle = inspect.env.client.get_workflow_handle(f"proposed-{event_id}")
    await asyncio.wait_for(handle.result(), 60)
    with session_factory(inspect.db)() as session:
        row = session.scalar(
            select(Execution).where(Execution.execution_id == f"proposed-{event_id}")
        )
        assert row is not None and row.triggered_by == "li.wei" and row.state == "SUCCEEDED"


async def test_an_alert_and_a_failed_check_on_one_resource_are_one_event(
    inspect: Inspect,
) -> None:
    name = inspect.name("merge")
    await inspect.apply(_pods_plan(name))
    summary = await inspect.run_now(name)
    assert summary.events_opened == 1
    target = inspect.env.client.service_client.config.target_host
    settings = load_settings(
        database_url=inspect.db,
        temporal_address=target,
        task_queue=inspect.queue,
        alert_tokens="alert-token",
    )
    admin = token_for(inspect.db, "ops", ["viewer"])
    with serve(create_intake(settings)) as intake:
        alert = {
            "version": "4",
            "receiver": "nightwatch",
            "status": "firing",
            "groupKey": "pods",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "PodsDown", "resource": "app:loan-api"},
                    "annotations": {"summary": "pods down"},
                    "startsAt": "2026-12-07T08:00:00Z",
                    "fingerprint": f"pods-{inspect.run}",
                }
            ],
        }
        async with httpx.AsyncClient(timeout=30) as http:
            sent = await http.post(
                f"{intake}/alerts/alertmanager",
                json=alert,
                headers={"Authorization": "Bearer alert-token"},
            )
            assert sent.status_code == 200, sent.text
            answer = await http.get(
                f"{intake}/api/v1/risk-events", headers={"Authorization": f"Bearer {admin}"}
            )
            listed = answer.json()
    shown = [e for e in listed if e["resource"] == "app:loan-api"]
    assert len(shown) == 1, listed
    assert sorted(shown[0]["sources"]) == ["alertmanager", "inspection"]
    merged = inspect.query("select merged_into from risk_event where source = 'alertmanager'")
    assert [m.merged_into for m in merged] == [shown[0]["id"]]
