"""A risk event's story as one timeline: its deliveries, the alerts that joined it, every
inspection run that saw it (the re-check after a plan among them), what people did to it,
and the execution it started with each decision and who made it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.models import Execution, RiskEvent, RiskEventEntry
from workflows.models import ExecutionView


class TimelineItem(BaseModel):
    at: datetime
    kind: str = Field(
        description="RECEIVED, LAST_DELIVERY, JOINED, INSPECTION, RECHECK, ACKNOWLEDGED, "
        "SHELVED, UNSHELVED, RESOLVED, REOPENED, COMMENT, EXECUTION_STARTED, DECISION, "
        "EXECUTION_ENDED, ALERT_ENDED"
    )
    actor: str | None = None
    proven_by: str | None = None
    comment: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


RUNS_THAT_SAW = text(
    "select l.run_id, p.name as plan, r.trigger, l.outcome, l.seen_at "
    "from risk_event_run l join inspection_run r on r.id = l.run_id "
    "join inspection_plan p on p.id = r.plan_id where l.risk_event_id = :id "
    "order by l.seen_at, l.run_id"
)


def inspection_runs(session: Session, event_id: int) -> list[Any]:
    """Every inspection run that saw the event, oldest first (run_id, plan, trigger,
    outcome, seen_at)."""
    return list(session.execute(RUNS_THAT_SAW, {"id": event_id}))


def timeline(session: Session, row: RiskEvent, view: ExecutionView | None) -> list[TimelineItem]:
    """Everything that happened to the event, oldest first."""
    items = [
        TimelineItem(
            at=row.first_received_at,
            kind="RECEIVED",
            actor=row.source,
            details={"name": row.alert_name, "severity": row.severity, "value": row.last_value},
        )
    ]
    if row.deliveries > 1:
        items.append(
            TimelineItem(
                at=row.last_received_at,
                kind="LAST_DELIVERY",
                actor=row.source,
                details={"deliveries": row.deliveries},
            )
        )
    for joined in session.scalars(select(RiskEvent).where(RiskEvent.merged_into == row.id)):
        items.append(
            TimelineItem(
                at=joined.first_received_at,
                kind="JOINED",
                actor=joined.source,
                details={"event": joined.id, "name": joined.alert_name, "state": joined.state},
            )
        )
    for run in inspection_runs(session, row.id):
        items.append(
            TimelineItem(
                at=run.seen_at,
                kind="RECHECK" if run.trigger == "RECHECK" else "INSPECTION",
                actor=run.plan,
                details={"run": run.run_id, "trigger": run.trigger, "outcome": run.outcome},
            )
        )
    entries = session.scalars(
        select(RiskEventEntry)
        .where(RiskEventEntry.risk_event_id == row.id)
        .order_by(RiskEventEntry.at, RiskEventEntry.id)
    )
    for entry in entries:
        items.append(
            TimelineItem(
                at=entry.at,
                kind=entry.kind,
                actor=entry.actor,
                proven_by=entry.proven_by,
                comment=entry.comment,
                details=entry.details,
            )
        )
    if row.ends_at and row.state == "RESOLVED" and not row.resolved_by:
        items.append(
            TimelineItem(at=row.ends_at, kind="ALERT_ENDED", actor=row.source, comment=row.reason)
        )
    items += _execution(session, row, view)
    return sorted(items, key=lambda item: item.at)


def _execution(session: Session, row: RiskEvent, view: ExecutionView | None) -> list[TimelineItem]:
    if not row.execution_id:
        return []
    found = session.scalar(select(Execution).where(Execution.execution_id == row.execution_id))
    if found is None:
        return []
    items = [
        TimelineItem(
            at=found.started_at or found.created_at,
            kind="EXECUTION_STARTED",
            actor=found.triggered_by or found.trigger_kind,
            details={"execution": row.execution_id, "plan": row.plan_name},
        )
    ]
    for node in view.nodes if view else []:
        for decision in node.decisions:
            items.append(
                TimelineItem(
                    at=decision.at,
                    kind="DECISION",
                    actor=decision.user,
                    comment=decision.comment,
                    details={
                        "execution": row.execution_id,
                        "node": node.key,
                        "step": node.name,
                        "action": decision.action,
                    },
                )
            )
    if found.ended_at:
        items.append(
            TimelineItem(
                at=found.ended_at,
                kind="EXECUTION_ENDED",
                details={"execution": row.execution_id, "state": found.state},
            )
        )
    return items
