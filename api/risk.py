"""The risk dashboard's API: counts, the trend, the filtered list, one event's story, and
what people do to events (acknowledge, shelve, resolve, comment, start the proposed plan),
one at a time or in bulk. The console's pages and the CLI read and write through these.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import ExecutionsDep, SessionDep, get_executions
from api.errors import ErrorBody
from executions.service import ExecutionError
from identity.guard import Operator, Viewer
from intake.rules import proposed_params
from nightwatch import web
from nightwatch.config import Settings
from nightwatch.temporal import TemporalUnavailable
from risk import dashboard
from risk.actions import MAX_BULK, Act, Actor, RiskActionError, act_on, act_on_many
from risk.dashboard import Counts, EventFilter, EventPage, Origin, Sort, Trend
from risk.start import start_proposed
from risk.story import TimelineItem, timeline
from storage.db import session_factory
from storage.enums import RiskState
from storage.models import RiskEvent
from workflows.models import ExecutionView

EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Strict = ConfigDict(extra="forbid")
REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such risk event"},
    409: {"model": ErrorBody, "description": "the event's state does not allow it"},
}
router = APIRouter(prefix="/api/v1", tags=["risk dashboard"], responses=REFUSED)


class EventView(BaseModel):
    id: int
    source: str
    origin: str | None
    fingerprint: str
    alert_name: str | None
    severity: str | None
    state: str
    labels: dict[str, str]
    annotations: dict[str, str]
    resource: str | None
    sources: list[str]
    last_value: str | None
    flapping: bool
    remediation: str | None
    plan_name: str | None
    execution_id: str | None
    outcome: str
    reason: str | None
    deliveries: int
    starts_at: datetime
    ends_at: datetime | None
    first_received_at: datetime
    last_received_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    shelved_until: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    merged_into: int | None


class EventStory(BaseModel):
    event: EventView
    timeline: list[TimelineItem]
    execution: ExecutionView | None = Field(None, description="the execution it started, live")
    execution_url: str | None = Field(None, description="the execution in the Temporal Web UI")
    can_start_plan: bool = Field(description="a plan is proposed and not started yet")
    proposed_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="the parameters the proposing rule maps from the event (start-plan's default)",
    )


class ActBody(BaseModel):
    model_config = Strict
    comment: str | None = Field(None, max_length=4000, description="why (kept in the timeline)")
    until: datetime | None = Field(None, description="shelve only: when it opens again by itself")


class BulkBody(BaseModel):
    model_config = Strict
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=MAX_BULK)
    action: Literal["acknowledge", "resolve", "comment"]
    comment: str | None = Field(None, max_length=4000)


class BulkResult(BaseModel):
    changed: list[int]
    skipped: list[int] = Field(description="their state did not allow it (or they joined another)")
    not_found: list[int]


class StartProposed(BaseModel):
    model_config = Strict
    overrides: dict[str, dict[str, Any]] | None = Field(
        None,
        description="node key -> parameters for this run only; default: what the proposing "
        "rule maps from the event",
    )


def settings_of(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def execution_url(settings: Settings, execution: str) -> str:
    return f"{settings.web_ui()}/namespaces/{settings.temporal_namespace}/workflows/{execution}"


def event_filter(
    severity: Annotated[list[str] | None, Query(max_length=20)] = None,
    source: Annotated[list[Origin] | None, Query()] = None,
    state: Annotated[list[RiskState] | None, Query()] = None,
    resource: Annotated[str | None, Query(max_length=600)] = None,
    plan: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in name/resource")] = None,
    since: Annotated[datetime | None, Query(description="last seen at or after")] = None,
    until: Annotated[datetime | None, Query(description="last seen before")] = None,
) -> EventFilter:
    try:
        return EventFilter(
            severity=[s for s in severity or [] if s],
            source=source or [],
            state=state or [],
            resource=resource or None,
            plan=plan or None,
            text=q or None,
            since=since,
            until=until,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RiskActionError(422, "InvalidValue", str(first["loc"][0]), first["msg"]) from None


Filters = Annotated[EventFilter, Depends(event_filter)]


@router.get("/risk-events", summary="Risk events, filtered, sorted and paged")
def list_events(
    identity: Viewer,
    session: SessionDep,
    filters: Filters,
    sort: Annotated[Sort, Query()] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> EventPage:
    """An alert that joined an event on the same resource is told by that event."""
    dashboard.expire_shelved(session)
    return dashboard.events(session, filters, sort=sort, limit=limit, offset=offset)


@router.get("/risk-events/summary", summary="What is not resolved, by severity, source, state")
def summary(identity: Viewer, session: SessionDep) -> Counts:
    dashboard.expire_shelved(session)
    return dashboard.counts(session)


@router.get("/risk-events/trend", summary="Events first seen per day, by severity")
def trend(
    identity: Viewer,
    session: SessionDep,
    first: Annotated[
        date | None, Query(alias="from", description="first day (default: 13 days ago)")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (default: today)")] = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of the days")] = "UTC",
) -> Trend:
    try:
        today = datetime.now(dashboard.zone(tz)).date()
        last = last or today
        return dashboard.trend(session, first or last - timedelta(days=13), last, tz)
    except ValueError as exc:
        path = "tz" if "time zone" in str(exc) else "from"
        raise RiskActionError(422, "InvalidValue", path, str(exc)) from None


@router.get("/risk-events/{event_id}", summary="One risk event and its whole story")
async def story(
    event_id: EventId,
    identity: Viewer,
    session: SessionDep,
    request: Request,
) -> EventStory:
    dashboard.expire_shelved(session)
    row = session.get(RiskEvent, event_id)
    if row is None:
        raise RiskActionError(404, "NotFound", "event_id", f"no risk event {event_id}")
    view = None
    if row.execution_id:
        try:
            view = await (await get_executions(request)).view(row.execution_id)
        except (ExecutionError, TemporalUnavailable):
            view = None  # Temporal away, or the run past retention: the rows still tell it
    settings = settings_of(request)
    can_start = row.outcome == "PROPOSED" and bool(row.plan_name) and not row.execution_id
    return EventStory(
        event=EventView.model_validate(row, from_attributes=True),
        timeline=timeline(session, row, view),
        execution=view,
        execution_url=execution_url(settings, row.execution_id) if row.execution_id else None,
        can_start_plan=can_start,
        proposed_overrides=proposed_params(session, row) if can_start else {},
    )


def _act_route(act: Act, summary: str) -> None:
    def route(
        event_id: EventId, body: ActBody, identity: Operator, session: SessionDep
    ) -> EventView:
        row = act_on(
            session,
            event_id,
            act,
            Actor(identity.user, identity.proven_by),
            body.comment,
            body.until,
        )
        return EventView.model_validate(row, from_attributes=True)

    route.__name__ = f"{act}_event"
    router.post(f"/risk-events/{{event_id}}/{act}", summary=summary)(route)


_act_route("acknowledge", "Take the event on (it stays open until resolved)")
_act_route("shelve", "Put the event out of sight until a time (it opens again by itself)")
_act_route("unshelve", "Take the event off the shelf before its time")
_act_route("resolve", "Resolve the event, with a comment saying why")
_act_route("reopen", "Open a resolved event again, with a comment")
_act_route("comment", "Add a comment to the event's timeline")


@router.post("/risk-events/bulk", summary="Acknowledge, resolve or comment many events at once")
def bulk(body: BulkBody, identity: Operator, session: SessionDep) -> BulkResult:
    result = act_on_many(
        session, body.ids, body.action, Actor(identity.user, identity.proven_by), body.comment
    )
    return BulkResult(**result)


@router.post(
    "/risk-events/{event_id}/start-plan", summary="Start the plan proposed for the event (once)"
)
async def start_plan(
    event_id: EventId,
    identity: Operator,
    request: Request,
    service: ExecutionsDep,
    body: StartProposed | None = None,
) -> EventView:
    settings = settings_of(request)
    url = request.app.state.database_url
    overrides = body.overrides if body else None
    if overrides is None:
        with session_factory(url)() as session:
            found = session.get(RiskEvent, event_id)
            overrides = proposed_params(session, found) if found else {}
    row = await start_proposed(url, service, settings.key_ring(), event_id, identity, overrides)
    return EventView.model_validate(row, from_attributes=True)


async def risk_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RiskActionError)
    return web.error_response(exc.status, exc.error, exc.path, exc.reason)
