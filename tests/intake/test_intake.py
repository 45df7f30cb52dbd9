"""Alerts in: the mapped plan starts once, every alert is a risk event, and every refusal
says why (401 unauthenticated, 4xx never valid, 503 deliver again)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import func, select, update

from storage.db import session_factory
from storage.models import Execution, SystemConfig
from tests.intake.conftest import Intake, am_payload, grafana_payload
from tests.support import (
    bearer,
    cli,
    database_refusing_connections,
    digest,
    token_for,
    wait_until_async,
)
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionView

NOTE_FROM_LABEL = {"1": {"note": "{labels.app} in {labels.namespace}: {annotations.summary}"}}


async def _state(intake: Intake, execution: str) -> ExecutionView:
    handle = intake.engine.env.client.get_workflow_handle(execution)
    found: list[ExecutionView] = []

    async def started() -> bool:
        try:
            view: ExecutionView = await handle.query(PlanExecutionWorkflow.get_state)
        except Exception:
            return False
        found.append(view)
        return view.plan_id != 0

    await wait_until_async(started, within=30, what=f"execution {execution}")
    return found[-1]


async def test_alertmanager_v4_starts_the_mapped_plan_with_mapped_parameters(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery, params=NOTE_FROM_LABEL)
    response = await intake.alertmanager(am_payload())
    assert response.status_code == 200, response.text
    [outcome] = response.json()["outcomes"]
    assert outcome["outcome"] == "STARTED"
    execution = outcome["execution_id"]
    assert execution.startswith("alert-") and "payment" not in execution  # no label values
    view = await _state(intake, execution)
    assert view.plan == self_recovery
    assert view.nodes[0].params["note"] == (
        "payment-gateway in payments: 2 of 3 payment-gateway pods are not running"
    )
    [event] = intake.events()
    assert (event.source, event.state, event.outcome, event.execution_id) == (
        "alertmanager",
        "OPEN",
        "STARTED",
        execution,
    )
    assert (event.alert_name, event.severity, event.fingerprint) == (
        "PodsDown",
        "critical",
        f"3f1e2d4c5b6a7980-{intake.run}",
    )
    description = await intake.engine.env.client.get_workflow_handle(execution).describe()
    assert description.workflow_type == "PlanExecution"


async def test_grafana_signed_payload_starts_the_plan(intake: Intake, self_recovery: str) -> None:
    intake.rule(self_recovery, params={"1": {"note": "{labels.grafana_folder}"}})
    response = await intake.grafana(grafana_payload())
    assert response.status_code == 200, response.text
    [outcome] = response.json()["outcomes"]
    view = await _state(intake, outcome["execution_id"])
    assert view.nodes[0].params["note"] == "Payments"
    unstamped = await intake.grafana(grafana_payload(), stamp=False)  # signature over the body
    assert unstamped.json()["outcomes"][0]["outcome"] == "ALREADY_STARTED"


async def test_generic_alert_with_standard_webhooks(intake: Intake, self_recovery: str) -> None:
    intake.rule(self_recovery, params={"1": {"note": "{severity}"}})
    alert = {"name": "PodsDown", "severity": "critical", "labels": {"app": "loan-api"}}
    first = await intake.generic(alert, message="msg_1")
    again = await intake.generic(alert, message="msg_1")  # the sender's retry of one message
    other = await intake.generic(alert, message="msg_2")  # a new message: a new firing
    outcomes = [r.json()["outcomes"][0] for r in (first, again, other)]
    assert [o["outcome"] for o in outcomes] == ["STARTED", "ALREADY_STARTED", "STARTED"]
    assert outcomes[0]["execution_id"] == outcomes[1]["execution_id"] != outcomes[2]["execution_id"]
    view = await _state(intake, outcomes[0]["execution_id"])
    assert view.nodes[0].params["note"] == "critical"


async def test_fifty_concurrent_deliveries_start_one_execution(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery)
    responses = await asyncio.gather(*[intake.alertmanager(am_payload()) for _ in range(50)])
    assert [r.status_code for r in responses] == [200] * 50
    outcomes = [r.json()["outcomes"][0] for r in responses]
    assert sorted(o["outcome"] for o in outcomes).count("STARTED") == 1
    assert {o["execution_id"] for o in outcomes} == {outcomes[0]["execution_id"]}
    [event] = intake.events()
    assert event.deliveries == 50
    handle = intake.engine.env.client.get_workflow_handle(
        outcomes[0]["execution_id"], result_type=ExecutionView
    )
    assert (await handle.result()).state == "SUCCEEDED"
    with session_factory(intake.db)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 1


async def test_credentials_are_checked_per_source(intake: Intake, self_recovery: str) -> None:
    intake.rule(self_recovery)
    wrong = await intake.alertmanager(am_payload(), token="nope")
    missing = await intake.post("/alerts/alertmanager", am_payload())
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong.json()["reason"] == "alertmanager: bearer token not accepted"
    assert "missing credentials" in missing.json()["reason"]
    rotated = await intake.alertmanager(am_payload(), token="rotated-token")
    assert rotated.status_code == 200
    basic = "Basic " + base64.b64encode(b"alertmanager:s3cret").decode()
    by_basic = await intake.post("/alerts/alertmanager", am_payload(), {"authorization": basic})
    assert by_basic.status_code == 200
    bad_signature = await intake.grafana(grafana_payload(), secret="not-it")
    stale = await intake.grafana(grafana_payload(), at=int(time.time()) - 3600)
    assert (bad_signature.status_code, stale.status_code) == (401, 401)
    assert stale.json()["reason"] == "grafana: timestamp outside the 300 s tolerance"
    forged = await intake.generic({"name": "PodsDown"}, secret="whsec_" + "A" * 32)
    old = await intake.generic({"name": "PodsDown"}, at=int(time.time()) - 600)
    assert (forged.status_code, old.status_code) == (401, 401)
    assert len(intake.events()) == 1  # only the accepted deliveries, all the same firing


async def test_never_valid_input_is_a_4xx_and_starts_nothing(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery, params={"1": {"note": "{labels.pod}"}})
    auth = {"authorization": "Bearer first-token"}
    not_json = await intake.post("/alerts/alertmanager", None, auth, raw=b"{not json")
    assert (not_json.status_code, not_json.json()["error"]) == (400, "InvalidJSON")
    payload = am_payload()
    del payload["alerts"][0]["startsAt"]
    missing = await intake.post("/alerts/alertmanager", payload, auth)
    assert (missing.status_code, missing.json()["path"]) == (422, "alerts.0.startsAt")
    huge = await intake.post("/alerts/alertmanager", None, auth, raw=b" " * (65 * 1024))
    assert huge.status_code == 413
    assert "byte limit" in huge.json()["reason"]
    unknown = await intake.alertmanager(am_payload())  # the rule maps a label it lacks
    assert unknown.status_code == 422
    assert unknown.json()["reason"].startswith("{labels.pod}: the alert has no label 'pod'")
    assert intake.events() == []  # nothing recorded, so nothing started


async def test_an_alert_no_rule_matches_is_recorded_unrouted(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery)
    labels = {"alertname": "DiskFull", "severity": "warning"}
    response = await intake.alertmanager(am_payload(labels=labels))
    assert response.json()["outcomes"][0]["outcome"] == "UNROUTED"
    [event] = intake.events()
    assert (event.outcome, event.execution_id) == ("UNROUTED", None)
    assert event.reason == "no enabled rule matches its labels"


async def test_storm_control_suppresses_beyond_the_limit(intake: Intake) -> None:
    plan = intake.engine.apply(
        {
            "name": "gated",
            "scene": "SELF_RECOVERY",
            "steps": [
                {
                    "name": "wait for a person",
                    "action": "CHECKPOINT",
                    "strategy": {"preConfirm": True},
                }
            ],
        }
    )
    intake.rule(plan)
    with session_factory(intake.db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "alerts.max_concurrent_per_plan")
            .values(value={"value": 2})
        )
        session.commit()
    outcomes = []
    for i in range(3):
        response = await intake.alertmanager(am_payload(fingerprint=f"storm{i:011d}"))
        outcomes.append(response.json()["outcomes"][0])
    assert [o["outcome"] for o in outcomes] == ["STARTED", "STARTED", "SUPPRESSED"]
    assert outcomes[2]["reason"] == (
        "storm control: 2 alert-started executions of 'gated' "
        "running (alerts.max_concurrent_per_plan = 2)"
    )
    assert [e.outcome for e in intake.events()] == ["STARTED", "STARTED", "SUPPRESSED"]


async def test_resolved_notification_resolves_the_event_and_tells_the_execution(
    intake: Intake,
) -> None:
    plan = intake.engine.apply(
        {
            "name": "gated resolve",
            "scene": "SELF_RECOVERY",
            "steps": [{"name": "wait", "action": "CHECKPOINT", "strategy": {"preConfirm": True}}],
        }
    )
    intake.rule(plan)
    started = (await intake.alertmanager(am_payload())).json()["outcomes"][0]
    await _state(intake, started["execution_id"])
    resolved = (await intake.alertmanager(am_payload("resolved"))).json()["outcomes"][0]
    assert (resolved["outcome"], resolved["execution_id"]) == ("RESOLVED", started["execution_id"])
    [event] = intake.events()
    assert (event.state, event.outcome, event.deliveries) == ("RESOLVED", "STARTED", 2)
    assert event.ends_at is not None

    async def told() -> bool:
        view = await _state(intake, started["execution_id"])
        return view.alert_resolved_at is not None

    await wait_until_async(told, within=30, what="the execution told of the resolution")


async def test_database_unreachable_is_503_and_the_alert_is_taken_once_it_returns(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery)
    with database_refusing_connections(intake.db):
        refused = await intake.alertmanager(am_payload())
    assert refused.status_code == 503
    assert refused.json()["error"] == "DatabaseUnavailable"
    accepted = await intake.alertmanager(am_payload())
    assert accepted.json()["outcomes"][0]["outcome"] == "STARTED"


async def test_temporal_unreachable_is_503_and_the_alert_is_taken_once_it_returns(
    intake: Intake,
) -> None:
    plan = intake.engine.apply(
        {
            "name": "pods down",
            "scene": "SELF_RECOVERY",
            "steps": [{"name": "note", "action": "CHECKPOINT", "params": {"note": "default"}}],
        }
    )
    intake.rule(plan)
    await intake.proxy.stop()
    try:
        refused = await intake.alertmanager(am_payload())
    finally:
        await intake.proxy.start()
    assert refused.status_code == 503
    assert refused.json()["error"] == "TemporalUnavailable"
    # Nothing was started, so the redelivery starts it (the event counts both deliveries).
    accepted = await intake.alertmanager(am_payload())
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["outcomes"][0]["outcome"] == "STARTED"
    events = intake.events()
    assert len(events) == 1 and events[0].deliveries in (1, 2)


async def test_inputs_that_crashed_the_intake_are_refused_and_write_nothing(
    intake: Intake, self_recovery: str
) -> None:
    intake.rule(self_recovery)
    before = digest(intake.db)
    bearer = {"authorization": "Bearer first-token"}
    for raw in (b"[" * 60_000, b'{"a":' * 12_000):  # within this intake's 64 KiB limit
        deep = await intake.post("/alerts/alertmanager", None, bearer, raw=raw)
        assert deep.status_code == 422, deep.text
        assert deep.json() == {
            "error": "InvalidJSON",
            "path": "(body)",
            "problems": [],
            "reason": "JSON nested deeper than 64 levels",
        }
    for starts_at in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"):
        answer = await intake.alertmanager(am_payload(starts_at=starts_at))
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert (body["error"], body["path"]) == ("InvalidAlert", "alerts.0.startsAt")
        assert "out of range" in body["reason"]
    naive = await intake.alertmanager(am_payload(starts_at="2026-11-27T08:00:00"))  # no offset
    assert naive.status_code == 200, naive.text  # read as UTC
    assert digest(intake.db) != before  # the naive one was taken; the others wrote nothing


async def test_a_rule_with_risk_events_is_not_deleted(intake: Intake, self_recovery: str) -> None:
    intake.rule(self_recovery)
    assert (await intake.alertmanager(am_payload())).status_code == 200
    admin = bearer(token_for(intake.db, "admin", ["admin"]))
    async with httpx.AsyncClient(base_url=intake.url, timeout=30, headers=admin) as http:
        refused = await http.delete(f"/api/v1/alert-rules/rule {self_recovery}")
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "RuleInUse"
        assert "routed 1 risk event(s)" in refused.json()["reason"]
        missing = await http.delete("/api/v1/alert-rules/no such rule")
        assert (missing.status_code, missing.json()["error"]) == (404, "NotFound")
    assert [e.rule_id for e in intake.events()] != [None]
    token = admin["Authorization"].removeprefix("Bearer ")
    alerts = cli(intake.db, Path.cwd(), "alerts", api=("http://unused", token), intake=intake.url)
    deleted = alerts("delete", f"rule {self_recovery}")
    assert deleted.returncode == 1 and deleted.stderr.count("\n") == 1, deleted.stderr
    assert deleted.stderr.startswith(f"error: rule {self_recovery}: the rule routed 1 risk")
    # The operator takes the event on: recorded as the signed-in person, whatever they say.
    operator = token_for(intake.db, "ops.oncall", ["operator"])
    ops = cli(intake.db, Path.cwd(), "alerts", api=("http://unused", operator), intake=intake.url)
    event = json.loads(ops("events", "--json").stdout)["events"][0]
    acked = ops("ack", str(event["id"]))
    assert acked.returncode == 0 and "ACKNOWLEDGED by ops.oncall" in acked.stdout, acked.stderr
    not_admin = ops("delete", f"rule {self_recovery}")
    assert not_admin.returncode == 1 and "needs the admin role" in not_admin.stderr


async def test_a_rule_file_is_applied_all_or_nothing(
    intake: Intake, self_recovery: str, tmp_path: Path
) -> None:
    matcher = [{"label": "alertname", "op": "=", "value": "X"}]
    good = {"name": "good rule", "plan": self_recovery, "match": matcher}
    bad = {"name": "bad rule", "plan": "no such plan", "match": matcher}
    head = {"format": "nightwatch/alert-rules/v1"}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({**head, "rules": [good, bad]}))
    token = token_for(intake.db, "admin", ["admin"])
    alerts = cli(intake.db, tmp_path, "alerts", api=("http://unused", token), intake=intake.url)
    refused = alerts("apply", "rules.yaml")
    assert refused.returncode == 1 and refused.stderr.startswith("error: [2].plan"), refused.stderr
    assert json.loads(alerts("rules", "--json").stdout)["rules"] == []
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({**head, "rules": [good]}))
    applied = alerts("apply", "rules.yaml", "--json")
    assert json.loads(applied.stdout)["rules"][0]["outcome"] == "created", applied.stderr
