"""Risk events and routing rules: the intake's API for people (the risk dashboard's
first feed, acknowledging an event, editing rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from identity.guard import Admin, Operator, Viewer
from intake.payloads import Source
from intake.rules import RuleDoc, RuleInUse, RuleInvalid, delete_rule, list_rules, save_rule
from intake.state import Intake, IntakeError, intake_of
from storage.db import session_factory
from storage.enums import RiskState
from storage.models import RiskEvent

IntakeDep = Annotated[Intake, Depends(intake_of)]


class RiskEventView(BaseModel):
    id: int
    source: str
    fingerprint: str
    alert_name: str | None
    severity: str | None
    state: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    deliveries: int
    plan_name: str | None
    execution_id: str | None
    outcome: str
    reason: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    first_received_at: datetime
    last_received_at: datetime


class Acknowledge(BaseModel):
    """Who acknowledges is the signed-in person; a body naming someone else is refused."""

    model_config = ConfigDict(extra="forbid")


router = APIRouter(prefix="/api/v1", tags=["risk events and rules"])


@router.get("/risk-events")
def risk_events(
    state: Annotated[Literal["OPEN", "ACKNOWLEDGED", "RESOLVED"] | None, Query()] = None,
    source: Annotated[Source | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    *,
    identity: Viewer,
    intake: IntakeDep,
) -> list[RiskEventView]:
    """Risk events, newest first (the first feed of the risk dashboard)."""
    newest = (RiskEvent.last_received_at.desc(), RiskEvent.id.desc())
    query = select(RiskEvent).order_by(*newest)
    if state:
        query = query.where(RiskEvent.state == state)
    if source:
        query = query.where(RiskEvent.source == source)
    with session_factory(intake.url)() as session:
        rows = session.scalars(query.limit(limit)).all()
        return [RiskEventView.model_validate(row, from_attributes=True) for row in rows]


@router.post("/risk-events/{event_id}/acknowledge")
def acknowledge(
    event_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    identity: Operator,
    intake: IntakeDep,
    body: Acknowledge | None = None,
) -> RiskEventView:
    """A person takes the risk event on (an open event becomes ACKNOWLEDGED)."""
    with session_factory(intake.url)() as session:
        row = session.get(RiskEvent, event_id)
        if row is None:
            raise IntakeError(404, "NotFound", "event_id", f"no risk event {event_id}")
        if row.state == RiskState.OPEN:
            row.state = RiskState.ACKNOWLEDGED
            row.acknowledged_by, row.acknowledged_at = identity.user, datetime.now(UTC)
            session.commit()
        return RiskEventView.model_validate(row, from_attributes=True)


@router.get("/alert-rules")
def get_rules(identity: Viewer, intake: IntakeDep) -> list[RuleDoc]:
    """Routing rules in the order they are tried (priority, then name)."""
    with session_factory(intake.url)() as session:
        return [rule for _, rule in list_rules(session)]


@router.put("/alert-rules/{name}")
def put_rule(name: str, rule: RuleDoc, identity: Admin, intake: IntakeDep) -> dict[str, Any]:
    """Create or replace a rule (the plan must be a SELF_RECOVERY plan)."""
    if rule.name != name:
        raise IntakeError(
            422, "RuleInvalid", "name", f"the body names {rule.name!r}, the path {name!r}"
        )
    with session_factory(intake.url)() as session:
        try:
            outcome, rule_id = save_rule(session, rule)
        except RuleInvalid as exc:
            raise IntakeError(422, "RuleInvalid", exc.path, exc.reason) from None
        session.commit()
    return {"outcome": outcome, "id": rule_id, "name": name}


@router.put("/alert-rules")
def put_rules(rules: list[RuleDoc], identity: Admin, intake: IntakeDep) -> dict[str, Any]:
    """Create or replace several rules, all or nothing (a rule file: `nightwatch alerts
    apply`); a refused rule names its place in the list."""
    results = []
    with session_factory(intake.url)() as session:
        for index, rule in enumerate(rules, 1):
            try:
                outcome, rule_id = save_rule(session, rule)
            except RuleInvalid as exc:
                session.rollback()
                raise IntakeError(422, "RuleInvalid", f"[{index}].{exc.path}", exc.reason) from None
            results.append({"name": rule.name, "outcome": outcome, "id": rule_id})
        session.commit()
    return {"rules": results}


@router.delete("/alert-rules/{name}")
def remove_rule(name: str, identity: Admin, intake: IntakeDep) -> dict[str, Any]:
    """Delete a rule that never routed an alert (409 otherwise: disable it instead)."""
    with session_factory(intake.url)() as session:
        try:
            if not delete_rule(session, name):
                raise IntakeError(404, "NotFound", "name", f"no rule {name!r}")
        except RuleInUse as exc:
            raise IntakeError(409, "RuleInUse", exc.path, exc.reason) from None
        session.commit()
    return {"deleted": name}
