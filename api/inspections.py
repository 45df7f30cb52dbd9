"""The inspection API: apply, list, show, pause, resume, run, back-fill and delete
inspection plans; their runs and results. Schedules are driven through
executions/inspections.py; who asks is the authenticated identity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import InspectionsDep, SessionDep
from identity.guard import Admin, Operator, Viewer
from inspection import store
from inspection.model import FORMAT, InspectionDoc, InspectionInvalid, Problem, parse_document

Strict = ConfigDict(extra="forbid")
Name = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="plan")
]
router = APIRouter(prefix="/api/v1", tags=["inspections"])


class PauseBody(BaseModel):
    model_config = Strict
    note: str = Field(min_length=3, max_length=500, description="why (shown with the plan)")


class ResumeBody(BaseModel):
    model_config = Strict
    note: str = Field("", max_length=500)


class BackfillBody(BaseModel):
    model_config = Strict
    start: datetime = Field(description="first scheduled time to run (with a UTC offset)")
    end: datetime = Field(description="up to this time (exclusive)")


@router.get("/inspections")
async def list_inspections(identity: Viewer, inspections: InspectionsDep) -> list[dict[str, Any]]:
    """Every inspection plan: schedule, paused, failing targets, the last run."""
    return await inspections.list()


@router.put("/inspections/{name}")
async def apply_inspection(
    name: Name,
    document: dict[str, Any],
    identity: Admin,
    inspections: InspectionsDep,
    version: Annotated[int | None, Query(ge=1, description="refuse if not at this version")] = None,
) -> dict[str, Any]:
    """Create or change an inspection plan (a `nightwatch/inspection/v1` document) and its
    Schedule; every problem in the document is listed with its path (422)."""
    doc = parse_document(document)
    if doc.name != name:
        raise InspectionInvalid(
            [Problem(path="name", reason=f"the document names {doc.name!r}, the path {name!r}")]
        )
    return await inspections.apply(doc, identity.user, version)


@router.get("/inspections/{name}")
async def show_inspection(
    name: Name, identity: Viewer, inspections: InspectionsDep
) -> dict[str, Any]:
    """The plan, its Schedule (paused, next runs, missed runs), targets' state, last runs."""
    return await inspections.describe(name)


@router.delete("/inspections/{name}")
async def delete_inspection(
    name: Name, identity: Admin, inspections: InspectionsDep
) -> dict[str, Any]:
    """Delete the plan's Schedule; the plan's runs and results are kept (retention)."""
    return await inspections.delete(name, identity.user)


@router.post("/inspections/{name}/run")
async def run_inspection(
    name: Name, identity: Operator, inspections: InspectionsDep
) -> dict[str, Any]:
    """Run the plan now (recorded as a manual run, with who asked)."""
    return await inspections.run_now(name, identity.user)


@router.post("/inspections/{name}/pause")
async def pause_inspection(
    name: Name, body: PauseBody, identity: Operator, inspections: InspectionsDep
) -> dict[str, Any]:
    """Pause the Schedule, with a note (who paused it is added)."""
    return await inspections.pause(name, body.note, identity.user)


@router.post("/inspections/{name}/resume")
async def resume_inspection(
    name: Name, identity: Operator, inspections: InspectionsDep, body: ResumeBody | None = None
) -> dict[str, Any]:
    return await inspections.resume(name, body.note if body else "", identity.user)


@router.post("/inspections/{name}/backfill")
async def backfill_inspection(
    name: Name, body: BackfillBody, identity: Operator, inspections: InspectionsDep
) -> dict[str, Any]:
    """Run the scheduled times of [start, end) now (at most 7 days)."""
    return await inspections.backfill(name, body.start, body.end, identity.user)


@router.get("/inspections/{name}/runs")
def inspection_runs(
    name: Name,
    identity: Viewer,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[dict[str, Any]]:
    plan = store.get_plan(session, name)
    return store.runs(session, plan.id, limit)


@router.get("/inspections/{name}/results")
def inspection_results(
    name: Name,
    identity: Viewer,
    session: SessionDep,
    check: Annotated[str | None, Query(max_length=200)] = None,
    target: Annotated[str | None, Query(max_length=500)] = None,
    outcome: Annotated[Literal["PASS", "WARN", "FAIL"] | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Results of the plan's runs, newest first, by check, target, outcome and time."""
    plan = store.get_plan(session, name)
    return store.history(
        session,
        plan.id,
        check=check,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
    )


@router.get("/inspection-runs/{run_id}")
def inspection_run(
    run_id: Annotated[int, Path(ge=1, le=2**63 - 1)], identity: Viewer, session: SessionDep
) -> dict[str, Any]:
    """One run: its counts, what changed, every result."""
    return store.run_detail(session, run_id)


@router.get("/inspection-schema")
def inspection_schema(identity: Viewer) -> dict[str, Any]:
    """The JSON Schema of inspection plan files (`format: nightwatch/inspection/v1`)."""
    return schema()


def schema() -> dict[str, Any]:
    found = InspectionDoc.model_json_schema()
    found["$id"] = "https://nightwatch.invalid/schemas/inspection-plan-v1.json"
    found["title"] = f"Nightwatch inspection plan ({FORMAT})"
    return found
