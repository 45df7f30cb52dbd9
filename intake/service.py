"""What happens to an accepted alert: a risk event, a route, at most one execution.

- Every alert becomes (or updates) its risk event: one row per firing, counted deliveries.
- A firing alert that an enabled rule matches starts the rule's SELF_RECOVERY plan with
  the mapped parameters. Exactly once: the workflow id comes from the rule and the firing
  (`alert-<rule>-<hash of source, fingerprint, episode>`: no label values, nothing secret),
  started with Temporal's conflict policy FAIL and reuse policy REJECT_DUPLICATE, so a
  repeated or concurrent delivery finds the execution instead of starting a second.
- Storm control: at most `alerts.max_concurrent_per_plan` alert-started executions of a
  plan run at once (counted under a per-plan advisory lock); the rest are recorded as
  SUPPRESSED with the reason.
- A resolved notification resolves the risk event and, if the rule says so, signals the
  execution (recorded on it).
Errors that a retry can cure (database or Temporal unreachable) propagate: the HTTP layer
answers 503 so the sender delivers again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from catalog.system_config import CONFIGS_BY_KEY
from executions.service import ExecutionExists, Executions
from intake.payloads import Alert
from intake.rules import RuleDoc, list_rules, mapped_params, plan_steps, route
from nightwatch.errors import NightwatchError
from nightwatch.logs import get_logger
from nightwatch.metrics import INTAKE_ALERTS
from storage.enums import AlertOutcome, RiskState
from storage.executions import executions_started_by_alerts
from workflows.models import AlertResolved, ExecutionInput

log = get_logger("nightwatch.intake")
# An alert-started execution whose row has not appeared after this long is not counted.
CREATING_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Routed:
    alert: Alert
    rule_id: int | None
    rule: RuleDoc | None
    params: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    fingerprint: str
    risk_event: int
    outcome: str
    execution_id: str | None
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "risk_event": self.risk_event,
            "outcome": self.outcome,
            "execution_id": self.execution_id,
            "reason": self.reason,
        }


STAMP = text("""
select (select count(*) from alert_rule) as rules,
       (select max(updated_at) from alert_rule) as rules_at,
       (select max(updated_at) from pre_plan) as plans_at,
       (select value from system_config where key = 'alerts.max_concurrent_per_plan') as storm
""")


class Routes:
    """Rules, their plans' steps and the storm limit, reloaded only when one changes.

    One cheap query per delivery tells whether anything changed (rule count and times,
    plan times, the limit); an alert storm then routes without re-reading rules and plans.
    """

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self.rules: list[tuple[int, RuleDoc]] = []
        self.steps: dict[str, dict[str, str]] = {}
        self.limit = int(CONFIGS_BY_KEY["alerts.max_concurrent_per_plan"].default)

    async def refresh(self, session: AsyncSession) -> None:
        row = (await session.execute(STAMP)).one()
        stamp = (row.rules, row.rules_at, row.plans_at, json.dumps(row.storm))
        if stamp == self._stamp:
            return
        spec = CONFIGS_BY_KEY["alerts.max_concurrent_per_plan"]
        self.limit = int(spec.parse(row.storm["value"]) if row.storm else spec.default)

        def load(sync: Any) -> tuple[list[tuple[int, RuleDoc]], dict[str, dict[str, str]]]:
            rules = list_rules(sync)
            steps = {}
            for _, rule in rules:
                try:
                    steps[rule.plan] = plan_steps(sync, rule.plan)
                except NightwatchError:
                    steps[rule.plan] = {}  # the plan is gone: its alerts are rejected
            return rules, steps

        self.rules, self.steps = await session.run_sync(load)
        self._stamp = stamp

    def route(self, alerts: list[Alert]) -> list[Routed]:
        """Route every alert and map its parameters first: a rejected one starts nothing."""
        routed = []
        for alert in alerts:
            found = route(self.rules, alert) if alert.status == "firing" else None
            if found is None:
                routed.append(Routed(alert, None, None, {}))
                continue
            rule_id, rule = found
            steps = self.steps.get(rule.plan, {})
            routed.append(Routed(alert, rule_id, rule, mapped_params(steps, rule, alert)))
        return routed


UPSERT = text("""
insert into risk_event (source, fingerprint, episode, alert_name, severity, state, labels,
                        annotations, starts_at, ends_at, deliveries, outcome, resource, sources)
values (:source, :fingerprint, :episode, :name, :severity, :state, cast(:labels as jsonb),
        cast(:annotations as jsonb), :starts_at, :ends_at, 1, :outcome, :resource,
        cast(:sources as jsonb))
on conflict (source, fingerprint, episode) do update set
    deliveries = risk_event.deliveries + 1,
    last_received_at = now(),
    state = case when excluded.state = 'RESOLVED' then 'RESOLVED' else risk_event.state end,
    ends_at = coalesce(excluded.ends_at, risk_event.ends_at),
    labels = excluded.labels,
    annotations = excluded.annotations
returning id, execution_id, outcome, merged_into, (xmax = 0) as created
""")

# A new firing alert on a resource an open inspection event is about joins that event
# (one risk event, both sources) within the merge window.
JOIN = text("""
with target as (
    select id from risk_event
     where resource = :resource and state <> 'RESOLVED' and merged_into is null
       and source = 'inspection' and id <> :me
       and last_received_at > now() - make_interval(mins => :minutes)
     order by id limit 1 for update
), joined as (
    update risk_event
       set sources = case when sources ? :source then sources
                          else sources || jsonb_build_array(cast(:source as text)) end,
           last_received_at = now()
     where id in (select id from target) returning id
)
update risk_event set merged_into = (select id from joined)
 where id = :me and exists (select 1 from joined)
returning merged_into
""")


async def merge_window(session: AsyncSession) -> int:
    spec = CONFIGS_BY_KEY["inspection.merge_window_minutes"]
    row = (
        await session.execute(
            text("select value from system_config where key = :key"), {"key": spec.key}
        )
    ).scalar_one_or_none()
    return int(spec.parse(row["value"]) if row else spec.default)


def _lock_key(plan: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"alerts:{plan}".encode()).digest()[:8], "big", signed=True
    )


async def handle(
    session: AsyncSession, executions: Executions, routed: Routed, limit: int
) -> Outcome:
    """Record one alert and act on it (commits before it talks to Temporal)."""
    alert = routed.alert
    row = (
        await session.execute(
            UPSERT,
            {
                "source": alert.source,
                "fingerprint": alert.fingerprint,
                "episode": alert.episode,
                "name": alert.name,
                "severity": alert.severity,
                "state": RiskState.RESOLVED if alert.status == "resolved" else RiskState.OPEN,
                "labels": json.dumps(alert.labels),
                "annotations": json.dumps(alert.annotations),
                "starts_at": alert.starts_at,
                "ends_at": alert.ends_at,
                "outcome": AlertOutcome.RESOLVED
                if alert.status == "resolved"
                else AlertOutcome.UNROUTED,
                "resource": alert.labels.get("resource"),
                "sources": json.dumps([alert.source]),
            },
        )
    ).one()
    event, execution_id = int(row.id), row.execution_id
    if row.created and alert.status == "firing" and alert.labels.get("resource"):
        await session.execute(
            JOIN,
            {
                "resource": alert.labels["resource"],
                "me": event,
                "source": alert.source,
                "minutes": await merge_window(session),
            },
        )

    def result(outcome: str, execution: str | None = None, reason: str | None = None) -> Outcome:
        INTAKE_ALERTS.labels(alert.source, outcome).inc()
        return Outcome(alert.fingerprint, event, outcome, execution, reason)

    if alert.status == "resolved":
        return await _resolved(session, executions, alert, event, execution_id, result)
    if routed.rule is None:
        reason = "no enabled rule matches its labels"
        if execution_id is None:
            await _record(session, event, routed, None, AlertOutcome.UNROUTED, reason)
        return result(AlertOutcome.UNROUTED, execution_id, reason)
    rule = routed.rule
    if rule.action == "propose":
        if execution_id is None:
            await _record(session, event, routed, None, AlertOutcome.PROPOSED, None)
        await session.commit()
        return result(AlertOutcome.PROPOSED, execution_id)
    workflow_id = f"alert-{routed.rule_id}-{alert.key()}"
    if execution_id is None:
        # Storm control: count and reserve a slot under the plan's lock, then let go of it
        # before talking to Temporal (the lock serialises this plan's alerts only briefly).
        await session.execute(
            text("select pg_advisory_xact_lock(:key)"), {"key": _lock_key(rule.plan)}
        )
        running = await executions_started_by_alerts(session, rule.plan, event, CREATING_GRACE)
        if running >= limit:
            reason = (
                f"storm control: {running} alert-started executions of {rule.plan!r} "
                f"running (alerts.max_concurrent_per_plan = {limit})"
            )
            await _record(session, event, routed, None, AlertOutcome.SUPPRESSED, reason)
            await session.commit()
            log.warning(
                "alert suppressed",
                fingerprint=alert.fingerprint,
                plan=rule.plan,
                running=running,
                limit=limit,
            )
            return result(AlertOutcome.SUPPRESSED, reason=reason)
        await _record(session, event, routed, workflow_id, AlertOutcome.STARTED, None)
    await session.commit()
    params = ExecutionInput(
        plan=rule.plan,
        overrides=routed.params,
        triggered_by=f"alert:{alert.source}",
        trigger_kind="ALERT",
        trigger_details={
            "source": alert.source,
            "fingerprint": alert.fingerprint,
            "alert": alert.name,
            "rule": rule.name,
            "risk_event": event,
        },
    )
    try:
        await executions.start(params, workflow_id)
        outcome = AlertOutcome.STARTED
    except ExecutionExists:
        outcome = AlertOutcome.ALREADY_STARTED
    except RPCError:
        if execution_id is None:  # give the slot back: the sender delivers again
            await session.execute(
                text(
                    "update risk_event set execution_id = null, outcome = 'UNROUTED', reason = "
                    "'not started: Temporal unreachable; waiting for the sender to deliver again' "
                    "where id = :id and execution_id = :execution"
                ),
                {"id": event, "execution": workflow_id},
            )
            await session.commit()
        raise
    log.info(
        "alert routed",
        fingerprint=alert.fingerprint,
        rule=rule.name,
        plan=rule.plan,
        execution=workflow_id,
        outcome=outcome,
    )
    return result(outcome, workflow_id)


async def _record(
    session: AsyncSession,
    event: int,
    routed: Routed,
    execution: str | None,
    outcome: str,
    reason: str | None,
) -> None:
    await session.execute(
        text(
            "update risk_event set rule_id = :rule, plan_name = :plan, execution_id = "
            "coalesce(execution_id, :execution), outcome = :outcome, reason = :reason "
            "where id = :id"
        ),
        {
            "rule": routed.rule_id,
            "plan": routed.rule.plan if routed.rule else None,
            "execution": execution,
            "outcome": outcome,
            "reason": reason,
            "id": event,
        },
    )


async def _resolved(
    session: AsyncSession,
    executions: Executions,
    alert: Alert,
    event: int,
    execution_id: str | None,
    result: Any,
) -> Outcome:
    if execution_id:
        rule_signals = (
            await session.execute(
                text(
                    "select r.signal_resolved from risk_event e "
                    "join alert_rule r on r.id = e.rule_id where e.id = :id"
                ),
                {"id": event},
            )
        ).scalar_one_or_none()
        note = AlertResolved(fingerprint=alert.fingerprint, ended_at=alert.ends_at)
        if rule_signals and not await executions.alert_resolved(execution_id, note):
            log.info("resolved alert not signalled: the execution ended", execution=execution_id)
    return result(AlertOutcome.RESOLVED, execution_id)  # type: ignore[no-any-return]
