"""Risk events and routing rules: the intake's API for people (the risk dashboard's
first feed, acknowledging an event, editing rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from executions.service import Executions
from identity.guard import Admin, Operator, Viewer
from intake.payloads import Source
from intake.rules import (
    RuleDoc,
    RuleInUse,
    RuleInvalid,
    delete_rule,
    list_rules,
    proposed_params,
    save_rule,
)
from intake.state import Intake, IntakeError, intake_of
from risk.actions import Actor, RiskActionError, act_on
from risk.start import start_proposed
from risk.story import inspection_runs
from storage.db import session_factory
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
    resource: str | None = None
    sources: list[str] = []
    last_value: str | None = None
    flapping: bool = False
    remediation: str | None = None
    merged_into: int | None = None


class RunSeen(BaseModel):
    run_id: int
    plan: str
    trigger: str
    outcome: str
    seen_at: datetime


class RiskEventStory(RiskEventView):
    """One event with its story: every inspection run that saw it, the alerts it joined."""

    runs: list[RunSeen]
    merged: list[RiskEventView]


class Acknowledge(BaseModel):
    """Who acknowledges is the signed-in person; a body naming someone else is refused."""

    model_config = ConfigDict(extra="forbid")


router = APIRouter(prefix="/api/v1", tags=["risk events and rules"])


@router.get("/risk-events")
def risk_events(
    state: Annotated[Literal["OPEN", "ACKNOWLEDGED", "RESOLVED"] | None, Query()] = None,
    source: Annotated[Source | Literal["inspection"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    resource: Annotated[str | None, Query(max_length=600)] = None,
    merged: Annotated[bool, Query(description="include alerts that joined another event")] = False,
    *,
    identity: Viewer,
    intake: IntakeDep,
) -> list[RiskEventView]:
    """Risk events, newest first (the first feed of the risk dashboard). An alert that
    joined an event on the same resource is shown by that event (`merged` lists it too)."""
    newest = (RiskEvent.last_received_at.desc(), RiskEvent.id.desc())
    query = select(RiskEvent).order_by(*newest)
    if not merged:
        query = query.where(RiskEvent.merged_into.is_(None))
    if resource:
        query = query.where(RiskEvent.resource == resource)
    if state:
        query = query.where(RiskEvent.state == state)
    if source:
        query = query.where(RiskEvent.source == source)
    with session_factory(intake.url)() as session:
        rows = session.scalars(query.limit(limit)).all()
        return [RiskEventView.model_validate(row, from_attributes=True) for row in rows]


@router.get("/risk-events/{event_id}")
def risk_event(
    event_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    identity: Viewer,
    intake: IntakeDep,
) -> RiskEventStory:
    """One risk event and its story: the inspection runs that saw it, the alerts it joined."""
    with session_factory(intake.url)() as session:
        row = session.get(RiskEvent, event_id)
        if row is None:
            raise IntakeError(404, "NotFound", "event_id", f"no risk event {event_id}")
        runs = inspection_runs(session, event_id)
        merged = session.scalars(select(RiskEvent).where(RiskEvent.merged_into == event_id))
        view = RiskEventView.model_validate(row, from_attributes=True)
        return RiskEventStory(
            **view.model_dump(),
            runs=[RunSeen.model_validate(dict(r._mapping)) for r in runs],
            merged=[RiskEventView.model_validate(m, from_attributes=True) for m in merged],
        )


class StartProposed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overrides: dict[str, dict[str, Any]] | None = Field(
        None,
        description="node key -> parameters for this run only; default: what the proposing "
        "rule maps from the event",
    )


@router.post("/risk-events/{event_id}/start-plan")
async def start_proposed_plan(
    event_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    identity: Operator,
    intake: IntakeDep,
    body: StartProposed | None = None,
) -> RiskEventView:
    """Start the plan a rule proposed for this event (once; the person who starts it is
    recorded as who triggered the execution)."""
    ring = intake.settings.key_ring()
    executions = Executions(
        await intake.temporal(), intake.settings.task_queue, database_url=intake.url, ring=ring
    )
    overrides = body.overrides if body else None
    if overrides is None:
        with session_factory(intake.url)() as session:
            found = session.get(RiskEvent, event_id)
            overrides = proposed_params(session, found) if found else {}
    row = await start_proposed(intake.url, executions, ring, event_id, identity, overrides)
    return RiskEventView.model_validate(row, from_attributes=True)


@router.post("/risk-events/{event_id}/acknowledge")
def acknowledge(
    event_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    identity: Operator,
    intake: IntakeDep,
    body: Acknowledge | None = None,
) -> RiskEventView:
    """A person takes the risk event on (an open event becomes ACKNOWLEDGED; one already
    taken on is answered as it is)."""
    actor = Actor(identity.user, identity.proven_by)
    with session_factory(intake.url)() as session:
        try:
            row = act_on(session, event_id, "acknowledge", actor)
        except RiskActionError as refused:
            if refused.error != "WrongState":
                raise
            row = session.get(RiskEvent, event_id)  # type: ignore[assignment]
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
