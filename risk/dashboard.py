"""What the risk dashboard reads: counts of what is not resolved, the trend of events per
day by severity, and the filtered, sorted, paged list of risk events.

Every query reads only events shown on their own (an alert that joined an event on its
resource is told by that event) and each filter has an index (migration 0010). Shelved
events whose time has passed are opened again first (`expire_shelved`), so nobody reads a
shelf that should have expired.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.orm import Session

from storage.enums import PlanType, RiskState
from storage.models import Plan, RiskEvent

Origin = Literal["alert", "inspection", "diagnosis"]
Sort = Literal["newest", "oldest", "severity", "deliveries"]
# Severities as alerts and checks spell them, most urgent first; others sort after these.
SEVERITIES = ("critical", "high", "major", "error", "warning", "minor", "info", "none")
COUNT_CAP = 10_000  # a list's total is counted up to here ("10000+" beyond)
MAX_TREND_DAYS = 366


class EventFilter(BaseModel):
    """The dashboard's filters (all optional; they live in the page's URL)."""

    model_config = ConfigDict(extra="forbid")
    severity: list[str] = Field(default_factory=list, max_length=20)
    source: list[Origin] = Field(default_factory=list, description="alert, inspection, diagnosis")
    state: list[RiskState] = Field(default_factory=list)
    resource: str | None = Field(None, max_length=600, description="exactly this resource")
    plan: str | None = Field(None, max_length=200, description="the plan proposed or started")
    text: str | None = Field(None, max_length=200, description="in name, resource, plan")
    since: datetime | None = Field(None, description="last seen at or after")
    until: datetime | None = Field(None, description="last seen before")

    @field_validator("since", "until")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-07T08:00:00Z)")
        return value

    @field_validator("severity")
    @classmethod
    def _short(cls, value: list[str]) -> list[str]:
        if any(len(v) > 32 for v in value):
            raise ValueError("a severity has at most 32 characters")
        return value


class EventRow(BaseModel):
    id: int
    source: str
    origin: str
    alert_name: str | None
    severity: str | None
    state: str
    resource: str | None
    plan_name: str | None
    execution_id: str | None
    outcome: str
    deliveries: int
    flapping: bool
    last_value: str | None
    shelved_until: datetime | None
    first_received_at: datetime
    last_received_at: datetime


class EventPage(BaseModel):
    events: list[EventRow]
    total: int = Field(description=f"counted up to {COUNT_CAP}")
    total_capped: bool = Field(description=f"more than {COUNT_CAP} match")
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class Counts(BaseModel):
    """What is not resolved, by severity, by source and by state, and all of it."""

    unresolved: int
    by_severity: dict[str, int]
    by_source: dict[str, int]
    by_state: dict[str, int]


class TrendDay(BaseModel):
    day: date
    by_severity: dict[str, int]


class Trend(BaseModel):
    time_zone: str
    days: list[TrendDay]
    severities: list[str] = Field(description="the severities seen, most urgent first")


def expire_shelved(session: Session, now: datetime | None = None) -> int:
    """Open again every shelved event whose time has passed (with a timeline entry)."""
    result = session.execute(
        text(
            "with woke as (update risk_event set state = 'OPEN', shelved_until = null "
            "where state = 'SHELVED' and shelved_until <= :now returning id, shelved_until) "
            "insert into risk_event_entry (risk_event_id, kind, actor, comment) "
            "select id, 'UNSHELVED', 'nightwatch', 'the shelf time passed' from woke"
        ),
        {"now": now or datetime.now(UTC)},
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def _shown() -> Select[RiskEvent]:
    return select(RiskEvent).where(RiskEvent.merged_into.is_(None))


def _filtered(query: Select[RiskEvent], f: EventFilter) -> Select[RiskEvent]:
    if f.severity:
        query = query.where(RiskEvent.severity.in_(f.severity))
    if f.source:
        query = query.where(RiskEvent.origin.in_(f.source))
    if f.state:
        query = query.where(RiskEvent.state.in_([s.value for s in f.state]))
    if f.resource:
        query = query.where(RiskEvent.resource == f.resource)
    if f.plan:
        query = query.where(RiskEvent.plan_name == f.plan)
    if f.text and f.text.strip():
        needle = f.text.strip().lower()
        query = query.where(RiskEvent.search.contains(needle, autoescape=True))
    if f.since:
        query = query.where(RiskEvent.last_received_at >= f.since)
    if f.until:
        query = query.where(RiskEvent.last_received_at < f.until)
    return query


def events(
    session: Session, f: EventFilter, *, sort: Sort = "newest", limit: int = 50, offset: int = 0
) -> EventPage:
    """One page of the filtered list, and how many match (counted up to COUNT_CAP)."""
    query = _filtered(_shown(), f)
    newest = (RiskEvent.last_received_at.desc(), RiskEvent.id.desc())
    order = {
        "newest": newest,
        "oldest": (RiskEvent.last_received_at.asc(), RiskEvent.id.asc()),
        "severity": (RiskEvent.severity_rank.asc(), *newest),
        "deliveries": (RiskEvent.deliveries.desc(), *newest),
    }[sort]
    rows = session.scalars(query.order_by(*order).limit(limit).offset(offset)).all()
    counted = query.with_only_columns(RiskEvent.id).order_by(None).limit(COUNT_CAP + 1)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    page = [EventRow.model_validate(row, from_attributes=True) for row in rows]
    more = offset + len(page) < total
    return EventPage(
        events=page,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
        offset=offset,
        next_offset=offset + len(page) if more and page else None,
    )


def counts(session: Session) -> Counts:
    """What is not resolved, grouped three ways (one index-only scan)."""
    rows = session.execute(
        select(RiskEvent.severity, RiskEvent.origin, RiskEvent.state, func.count())
        .where(and_(RiskEvent.merged_into.is_(None), RiskEvent.state != RiskState.RESOLVED))
        .group_by(RiskEvent.severity, RiskEvent.origin, RiskEvent.state)
    ).all()
    result = Counts(unresolved=0, by_severity={}, by_source={}, by_state={})
    for severity, origin, state, number in rows:
        result.unresolved += number
        for bucket, key in (
            (result.by_severity, severity or "none"),
            (result.by_source, origin or "alert"),
            (result.by_state, state),
        ):
            bucket[key] = bucket.get(key, 0) + number
    result.by_severity = dict(sorted(result.by_severity.items(), key=lambda i: _rank(i[0])))
    return result


def _rank(severity: str) -> int:
    lowered = severity.lower()
    return SEVERITIES.index(lowered) if lowered in SEVERITIES else len(SEVERITIES)


def zone(name: str) -> ZoneInfo:
    """A time zone by its IANA name; ValueError naming the problem otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Asia/Shanghai)") from None


def trend(session: Session, first: date, last: date, time_zone: str = "UTC") -> Trend:
    """Events first seen per day (in `time_zone`) from `first` to `last`, by severity; every
    day in the range is present, with zeros."""
    tz = zone(time_zone)
    if last < first:
        raise ValueError("the range ends before it starts")
    if (last - first).days >= MAX_TREND_DAYS:
        raise ValueError(f"a trend covers at most {MAX_TREND_DAYS} days")
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    day = func.date(func.timezone(time_zone, RiskEvent.first_received_at))
    rows = session.execute(
        select(day, RiskEvent.severity, func.count())
        .where(
            RiskEvent.merged_into.is_(None),
            RiskEvent.first_received_at >= start,
            RiskEvent.first_received_at < end,
        )
        .group_by(day, RiskEvent.severity)
    ).all()
    found: dict[date, dict[str, int]] = {}
    seen: set[str] = set()
    for when, severity, number in rows:
        key = severity or "none"
        seen.add(key)
        found.setdefault(when, {})[key] = number
    days = []
    current = first
    while current <= last:
        days.append(TrendDay(day=current, by_severity=found.get(current, {})))
        current += timedelta(days=1)
    return Trend(time_zone=time_zone, days=days, severities=sorted(seen, key=_rank))


def plans_named(session: Session) -> list[str]:
    """The plans the plan filter offers (the stored plans' names)."""
    return list(
        session.scalars(
            select(Plan.name)
            .where(Plan.type == PlanType.MAIN, Plan.deleted_at.is_(None))
            .order_by(Plan.name)
            .limit(500)
        ).all()
    )
