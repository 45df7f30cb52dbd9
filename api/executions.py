"""The execution API: start, list, look at, decide about, fill, cancel and re-run
executions, and the inbox. Every call goes through the execution service
(executions/service.py); who acts is the authenticated identity, never what a body says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ExecutionsDep, SessionDep
from api.errors import ErrorBody
from audit.reconcile import build_report
from audit.render import RENDERERS
from executions.inbox import Waiting, Who, waiting
from executions.service import (
    ExecutionError,
    Executions,
    InvalidFill,
    Refused,
    field_problems,
    new_execution_id,
    rerun_id,
    seal_overrides,
    seal_parameters,
)
from identity.guard import Approver, Operator, Viewer
from identity.model import Identity, role_names
from nightwatch.config import Settings
from nightwatch.metrics import DECISIONS, DECISIONS_REFUSED
from storage import executions as rows
from storage.enums import ExecutionState
from workflows.models import Decision, DecisionKind, ExecutionInput, ExecutionView, Fill, NodeView

Strict = ConfigDict(extra="forbid")
REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "the execution refused: not waiting, not yours…"},
}
ExecutionId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", description="id")
]
NodeKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.*-]+$",
        description="node key: '3', 'DISASTER_SWITCH' or 'DISASTER_SWITCH.2'",
    ),
]
Overrides = Annotated[
    dict[str, dict[str, Any]],
    Field(
        default_factory=dict,
        description="node key -> parameters for this run only; secret ones are sealed here",
    ),
]
router = APIRouter(prefix="/api/v1", tags=["executions"], responses=REFUSALS)


class StartExecution(BaseModel):
    model_config = Strict
    plan: str = Field(min_length=1, max_length=200, description="plan name or id")
    overrides: Overrides
    execution_id: str | None = Field(
        None, max_length=150, pattern=r"^[A-Za-z0-9._:-]+$", description="default: made up"
    )


class Rerun(BaseModel):
    model_config = Strict
    from_node: str = Field(min_length=1, max_length=200, description="node key to start at")
    overrides: Overrides


class DecisionBody(BaseModel):
    model_config = Strict
    comment: str | None = Field(None, max_length=4000, description="why (kept for audit)")


class FillBody(BaseModel):
    model_config = Strict
    values: dict[str, Any] = Field(min_length=1, description="parameter -> value")
    comment: str | None = Field(None, max_length=4000)


class ExecutionRow(BaseModel):
    execution: str
    plan: str
    plan_version: int
    state: str
    trigger: str
    by: str | None
    started_at: datetime | None
    ended_at: datetime | None


class ExecutionPage(BaseModel):
    executions: list[ExecutionRow]
    total: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def _who(identity: Identity) -> Who:
    return Who(user=identity.user, roles=role_names(identity.roles), groups=sorted(identity.groups))


def _acting(identity: Identity) -> dict[str, Any]:
    """Who acts, as decisions and fills carry it: the authenticated identity only."""
    return {
        "user": identity.user,
        "roles": role_names(identity.roles),
        "groups": sorted(identity.groups),
        "proven_by": identity.proven_by,
    }


def _decision(identity: Identity, node: str, comment: str | None) -> Decision:
    return Decision(node=node, comment=comment, **_acting(identity))


@router.post("/executions", status_code=201, summary="Start an execution of a plan")
async def start(
    body: StartExecution, request: Request, identity: Operator, service: ExecutionsDep
) -> ExecutionView:
    """Starts the plan and answers once the execution has its plan snapshot (or says what
    was wrong: an unknown plan, a parameter that does not fit, with its path)."""
    execution = body.execution_id or new_execution_id()
    params = ExecutionInput(plan=body.plan)
    return await _start(service, request, identity, params, execution, body.overrides)


async def _start(
    service: Executions,
    request: Request,
    identity: Identity,
    params: ExecutionInput,
    execution: str,
    overrides: dict[str, dict[str, Any]],
) -> ExecutionView:
    """Start as the caller, with its overrides' secrets sealed for this execution; the view
    once it has its snapshot."""
    ring = _settings(request).key_ring()
    params = params.model_copy(
        update={
            "overrides": seal_overrides(overrides, execution, ring, "overrides"),
            "triggered_by": identity.user,
            "proven_by": identity.proven_by,
        }
    )
    await service.start(params, execution)
    return await service.started(execution)


@router.get("/executions", summary="Executions, newest first, filtered and paged")
def list_executions(
    identity: Viewer,
    session: SessionDep,
    state: Annotated[list[ExecutionState] | None, Query()] = None,
    plan: Annotated[str | None, Query(max_length=200, description="name or id")] = None,
    trigger: Annotated[Literal["OPERATOR", "ALERT", "SCHEDULE", "RERUN"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="started at or after")] = None,
    until: Annotated[datetime | None, Query(description="started before")] = None,
    waiting_for_me: Annotated[
        bool, Query(description="only those with a step I may act on")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ExecutionPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ExecutionError(name, "give a time zone (e.g. 2026-12-07T08:00:00Z)")
    mine = None
    if waiting_for_me:
        mine = sorted({item.execution for item in waiting(session, _who(identity))})
    found, total = rows.search(
        session,
        states=[s.value for s in state] if state else None,
        plan=plan,
        trigger=trigger,
        since=since,
        until=until,
        execution_ids=mine,
        limit=limit,
        offset=offset,
    )
    page = [
        ExecutionRow(
            execution=e.execution_id,
            plan=name,
            plan_version=e.plan_version,
            state=e.state,
            trigger=e.trigger_kind,
            by=e.triggered_by,
            started_at=e.started_at,
            ended_at=e.ended_at,
        )
        for e, name in found
    ]
    more = offset + len(page) < total
    return ExecutionPage(
        executions=page, total=total, next_offset=offset + len(page) if more else None
    )


@router.get("/executions/{execution}", summary="The live view of an execution")
async def get_execution(
    execution: ExecutionId, identity: Viewer, service: ExecutionsDep
) -> ExecutionView:
    return await service.view(execution)


@router.get("/inbox", summary="Every step waiting for me (by my identity and roles), oldest first")
def inbox(
    identity: Viewer,
    session: SessionDep,
    everyone: Annotated[bool, Query(description="what waits for anyone")] = False,
) -> list[Waiting]:
    return waiting(session, None if everyone else _who(identity))


def _decision_route(what: str, kind: DecisionKind, who: Any, summary: str) -> None:
    """`POST /executions/{id}/nodes/{node}/<what>`: the decisions differ only in their
    kind and the role they need (`who`)."""

    async def decide(
        execution: ExecutionId,
        node: NodeKey,
        body: DecisionBody,
        identity: Identity,
        service: ExecutionsDep,
    ) -> NodeView | None:
        try:
            taken = await service.decide(execution, kind, _decision(identity, node, body.comment))
        except Refused:
            DECISIONS_REFUSED.labels(kind.value).inc()
            raise
        DECISIONS.labels(kind.value).inc()
        return taken

    decide.__annotations__["identity"] = who  # the role check of this decision
    decide.__name__ = what
    router.post(f"/executions/{{execution}}/nodes/{{node}}/{what}", summary=summary)(decide)


_decision_route("confirm", DecisionKind.CONFIRM, Approver, "Confirm a waiting step")
_decision_route(
    "reject",
    DecisionKind.REJECT,
    Approver,
    "Reject a step waiting for confirmation: the execution stops there",
)
_decision_route("skip", DecisionKind.SKIP, Operator, "Skip a waiting or failed step")
_decision_route("retry", DecisionKind.RETRY, Operator, "Run a failed step again")
_decision_route(
    "done",
    DecisionKind.DONE,
    Operator,
    "Mark a failed or waiting step done by hand (a comment says what was done)",
)
_decision_route(
    "abort", DecisionKind.ABORT, Operator, "Abort the execution at this node ('*': wherever it is)"
)


@router.post(
    "/executions/{execution}/nodes/{node}/fill",
    summary="Fill in the parameters a step waits for (secret ones are sealed here)",
)
async def fill(
    execution: ExecutionId,
    node: NodeKey,
    body: FillBody,
    request: Request,
    identity: Operator,
    service: ExecutionsDep,
) -> NodeView:
    values = seal_parameters(body.values, execution, node, _settings(request).key_ring(), "values")
    try:
        taken = await service.fill(
            execution,
            Fill(node=node, values=values, comment=body.comment, **_acting(identity)),
        )
        DECISIONS.labels("FILL").inc()
        return taken
    except Refused as refused:
        DECISIONS_REFUSED.labels("FILL").inc()
        problems = field_problems(refused.reason, set(body.values))
        if problems:  # the values themselves are wrong: say so on each field (422)
            raise InvalidFill(problems) from None
        raise


@router.post(
    "/executions/{execution}/cancel",
    status_code=202,
    summary="Cancel: the running step is cancelled, every open node marked cancelled",
)
async def cancel(
    execution: ExecutionId, identity: Operator, service: ExecutionsDep
) -> dict[str, str]:
    await service.view(execution)  # 404 for an unknown id, before anything is asked
    await service.cancel(execution, f"cancelled by {identity.user} ({identity.proven_by})")
    return {"execution": execution, "status": "cancel requested", "by": identity.user}


@router.post(
    "/executions/{execution}/rerun",
    status_code=201,
    summary="Start a new execution linked to this one, from a node on, with its parameters",
)
async def rerun(
    execution: ExecutionId,
    body: Rerun,
    request: Request,
    identity: Operator,
    service: ExecutionsDep,
) -> ExecutionView:
    params = ExecutionInput(
        plan="", rerun_of=execution, rerun_from=body.from_node, trigger_kind="RERUN"
    )
    return await _start(service, request, identity, params, rerun_id(execution), body.overrides)


@router.get(
    "/executions/{execution}/audit",
    summary="The execution's audit report (its Temporal history and the database, reconciled)",
    response_model=None,
)
async def audit_report(
    execution: ExecutionId,
    request: Request,
    identity: Viewer,
    service: ExecutionsDep,
    format_: Annotated[Literal["html", "json", "md"], Query(alias="format")] = "html",
) -> Response:
    settings = _settings(request)
    report = await build_report(
        service.client, settings.effective_database_url, execution, settings.key_ring()
    )
    if format_ == "json":
        return JSONResponse(report)
    media = "text/html; charset=utf-8" if format_ == "html" else "text/markdown; charset=utf-8"
    return Response(RENDERERS[format_](report), media_type=media)
