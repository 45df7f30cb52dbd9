"""Storing inspection plans (versioned), and reading runs and results back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from inspection.model import InspectionDoc
from nightwatch.errors import Conflict, NotFound
from storage.models import InspectionPlan

SCHEDULE_PREFIX = "inspect-"


def schedule_id(name: str) -> str:
    return SCHEDULE_PREFIX + name


def get_plan(session: Session, name: str) -> InspectionPlan:
    row = session.scalar(
        select(InspectionPlan).where(
            InspectionPlan.name == name, InspectionPlan.deleted_at.is_(None)
        )
    )
    if row is None:
        raise NotFound(name, "no such inspection plan (`nightwatch inspect list`)")
    return row


def list_plans(session: Session) -> list[InspectionPlan]:
    return list(
        session.scalars(
            select(InspectionPlan)
            .where(InspectionPlan.deleted_at.is_(None))
            .order_by(InspectionPlan.name)
        )
    )


def save_plan(
    session: Session, doc: InspectionDoc, user: str, expected_version: int | None = None
) -> tuple[str, InspectionPlan]:
    """Create the plan or store a new version; unchanged documents write nothing.
    `expected_version` refuses a change made to an older version (409)."""
    document = doc.model_dump(mode="json", exclude_none=True)
    row = session.scalar(
        select(InspectionPlan).where(InspectionPlan.name == doc.name).with_for_update()
    )
    if row is None:
        row = InspectionPlan(
            name=doc.name,
            description=doc.description or None,
            document=document,
            version=1,
            schedule_id=schedule_id(doc.name),
            created_by=user,
            updated_by=user,
        )
        session.add(row)
        session.flush()
        return "created", row
    if expected_version is not None and expected_version != row.version:
        raise Conflict("version", f"the plan is at version {row.version}, not {expected_version}")
    if row.deleted_at is None and row.document == document:
        return "unchanged", row
    row.document, row.description = document, doc.description or None
    row.version += 1
    row.updated_by = user
    outcome = "restored" if row.deleted_at is not None else "updated"
    row.deleted_at = None
    session.flush()
    return outcome, row


def delete_plan(session: Session, name: str) -> InspectionPlan:
    row = get_plan(session, name)
    row.deleted_at = datetime.now(UTC)
    session.flush()
    return row


def runs(session: Session, plan_id: int, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "select id, workflow_id, trigger, state, scheduled_at, started_at, ended_at, checks, "
            "counts - 'report' as counts, error from inspection_run where plan_id = :plan "
            "order by started_at desc, id desc limit :limit"
        ),
        {"plan": plan_id, "limit": limit},
    )
    return [dict(row._mapping) for row in rows]


def run_detail(session: Session, run_id: int) -> dict[str, Any]:
    row = session.execute(
        text(
            "select r.id, r.workflow_id, p.name as plan, r.plan_version, r.trigger, r.state, "
            "r.scheduled_at, r.started_at, r.ended_at, r.checks, r.counts - 'report' as counts, "
            "r.changes, r.error from inspection_run r join inspection_plan p on p.id = r.plan_id "
            "where r.id = :id"
        ),
        {"id": run_id},
    ).one_or_none()
    if row is None:
        raise NotFound(str(run_id), "no such inspection run")
    results = session.execute(
        text(
            "select check_name as check, kind, target, resource, outcome, failures, observed, "
            "evidence, duration_ms, checked_at from inspection_result where run_id = :id "
            "order by outcome = 'PASS', check_name, target"
        ),
        {"id": run_id},
    )
    return {**dict(row._mapping), "results": [dict(r._mapping) for r in results]}


def history(
    session: Session,
    plan_id: int,
    *,
    check: str | None = None,
    target: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Results of the plan's runs, newest first, filtered by check, target, outcome, time."""
    where = ["plan_id = :plan"]
    values: dict[str, Any] = {"plan": plan_id, "limit": limit}
    for column, value in (("check_name", check), ("target", target), ("outcome", outcome)):
        if value is not None:
            where.append(f"{column} = :{column}")
            values[column] = value
    if since is not None:
        where.append("checked_at >= :since")
        values["since"] = since
    if until is not None:
        where.append("checked_at < :until")
        values["until"] = until
    rows = session.execute(
        text(
            "select run_id, check_name as check, kind, target, outcome, failures, observed, "
            "evidence, duration_ms, checked_at from inspection_result where "
            + " and ".join(where)
            + " order by checked_at desc, id desc limit :limit"
        ),
        values,
    )
    return [dict(row._mapping) for row in rows]


def states(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """Every target's flapping state: failing, flapping, since when, its risk event."""
    rows = session.execute(
        text(
            "select check_name as check, target, recent, failing, flapping, since, "
            "risk_event_id from inspection_state where plan_id = :plan "
            "order by failing desc, check_name, target"
        ),
        {"plan": plan_id},
    )
    return [dict(row._mapping) for row in rows]
