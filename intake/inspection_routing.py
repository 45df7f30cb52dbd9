"""Inspection failures through the alert routing rules: propose or start the fixing plan.

A target that turns failing is routed like an alert whose labels are the check's
(`source=inspection`, `plan`, `check`, `kind`, `target`, `resource`, `severity`). The
first enabled rule that matches either proposes its plan (shown with the risk event, a
person starts it) or starts it (SELF_RECOVERY plans, storm control as for alerts, one
execution per risk event: the workflow id comes from the inspection plan, the rule and the
event). A started execution is followed by `InspectionRecheckWorkflow`: when it ends, the
check runs again on that target and the event records whether the execution fixed it.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from sqlalchemy import text
from temporalio import activity
from temporalio.client import Client

from activities.inspection_state import Failure
from executions.inspections import follow_execution
from executions.service import ExecutionExists, Executions
from intake.payloads import Alert
from intake.rules import AlertRejected
from intake.service import CREATING_GRACE, Routes, _lock_key, _record
from nightwatch.codec import KeyRing
from nightwatch.logs import get_logger
from storage.db import async_session_factory
from storage.enums import AlertOutcome
from storage.executions import executions_started_by_alerts
from workflows.inspection import RecheckInput
from workflows.models import ExecutionInput

log = get_logger("nightwatch.intake.inspection")


def as_alert(failure: Failure) -> Alert:
    labels = {
        "source": "inspection",
        "plan": failure.plan,
        "check": failure.check,
        "kind": failure.kind,
        "target": failure.target,
        "resource": failure.resource,
        "severity": failure.severity,
        "alertname": f"{failure.plan}/{failure.check}",
    }
    return Alert.model_construct(
        source="inspection",  # type: ignore[arg-type]  # routed like an alert, never received
        fingerprint=f"event-{failure.risk_event}",
        status="firing",
        name=labels["alertname"],
        severity=failure.severity,
        labels=labels,
        annotations={"summary": "; ".join(failure.failures)[:500]},
        starts_at=datetime.now(UTC),
        ends_at=None,
        episode=str(failure.risk_event),
    )


class InspectionRouter:
    """Called by `conclude_inspection_run` with the targets that turned failing."""

    def __init__(self, database_url: str, ring: KeyRing | None = None) -> None:
        self._url = database_url
        self._queue = ""
        self._ring = ring
        self._routes = Routes()

    async def __call__(self, failures: list[Failure]) -> list[str]:
        client: Client = activity.client()
        self._queue = activity.info().task_queue
        executions = Executions(client, self._queue, database_url=self._url, ring=self._ring)
        started = []
        async with async_session_factory(self._url)() as session:
            await self._routes.refresh(session)
            await session.commit()
        for failure in failures:
            if not failure.new_event:
                continue  # joined an alert's event: the alert was routed already
            execution = await self._route(executions, failure)
            if execution is not None:
                started.append(execution)
                await self._follow(client, failure, execution)
        return started

    async def _route(self, executions: Executions, failure: Failure) -> str | None:
        alert = as_alert(failure)
        try:
            routed = self._routes.route([alert])[0]
        except AlertRejected as exc:
            async with async_session_factory(self._url)() as session:
                await session.execute(
                    text(
                        "update risk_event set outcome = 'REJECTED', reason = :why where id = :id"
                    ),
                    {"id": failure.risk_event, "why": f"{exc.path}: {exc.reason}"},
                )
                await session.commit()
            return None
        async with async_session_factory(self._url)() as session:
            if routed.rule is None:
                return None
            rule = routed.rule
            if rule.action == "propose":
                await _record(session, failure.risk_event, routed, None, "PROPOSED", None)
                await session.commit()
                return None
            workflow_id = f"inspect-{failure.plan}-{routed.rule_id}-{failure.risk_event}"
            await session.execute(
                text("select pg_advisory_xact_lock(:k)"), {"k": _lock_key(rule.plan)}
            )
            running = await executions_started_by_alerts(
                session, rule.plan, failure.risk_event, CREATING_GRACE
            )
            if running >= self._routes.limit:
                reason = (
                    f"storm control: {running} executions of {rule.plan!r} started by alerts "
                    f"or inspections running (alerts.max_concurrent_per_plan = "
                    f"{self._routes.limit})"
                )
                await _record(
                    session, failure.risk_event, routed, None, AlertOutcome.SUPPRESSED, reason
                )
                await session.commit()
                return None
            await _record(
                session, failure.risk_event, routed, workflow_id, AlertOutcome.STARTED, None
            )
            await session.commit()
        params = ExecutionInput(
            plan=rule.plan,
            overrides=routed.params,
            triggered_by=f"inspection:{failure.plan}",
            trigger_kind="ALERT",
            trigger_details={
                "source": "inspection",
                "inspection_plan": failure.plan,
                "check": failure.check,
                "target": failure.target,
                "rule": rule.name,
                "risk_event": failure.risk_event,
            },
        )
        with contextlib.suppress(ExecutionExists):
            await executions.start(params, workflow_id)
        log.info(
            "inspection failure routed",
            plan=rule.plan,
            check=failure.check,
            target=failure.target,
            execution=workflow_id,
        )
        return workflow_id

    async def _follow(self, client: Client, failure: Failure, execution: str) -> None:
        recheck = RecheckInput(
            plan=failure.plan,
            check=failure.check,
            target=failure.target,
            risk_event=failure.risk_event,
            execution_id=execution,
        )
        await follow_execution(client, self._queue, recheck)
