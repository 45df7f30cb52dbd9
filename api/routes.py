"""Routes: /api/v1/plans, /api/v1/actions and parameter options."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from api.deps import SessionDep
from api.errors import ErrorBody
from catalog.options import Option, options_for
from catalog.params import InstanceFilter
from catalog.views import load_actions
from identity.guard import Admin, Viewer
from nightwatch.errors import Conflict, NightwatchError, NotFound, PreconditionRequired
from plans import files, store
from plans.model import PlanDocument
from plans.validation import CatalogView, check, parse_document

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": meaning}
    for status, meaning in [
        (404, "not found"),
        (409, "conflicts with what exists"),
        (422, "invalid input: every problem with its path"),
        (502, "the platform refused"),
        (503, "the platform or database is unavailable"),
    ]
}
PlanId = Annotated[int, Path(ge=1, le=2**63 - 1, description="plan id")]
router = APIRouter(prefix="/api/v1", responses=ERRORS)


class PlanRef(BaseModel):
    id: int
    name: str
    version: int
    outcome: str


class StoredPlan(BaseModel):
    id: int
    version: int
    document: PlanDocument


class Validity(BaseModel):
    valid: bool
    name: str


class Options(BaseModel):
    source: str
    filter: str | None
    options: list[Option]


@router.get("/plans", tags=["plans"])
def list_plans(identity: Viewer, session: SessionDep) -> list[store.PlanSummary]:
    return store.list_plans(session)


@router.post("/plans", status_code=201, tags=["plans"])
def create_plan(document: PlanDocument, identity: Admin, session: SessionDep) -> PlanRef:
    """Create a plan; a plan with this name already existing is a conflict (409: change it
    with PUT)."""
    result = store.apply(session, document, by=identity.user, only="create")
    session.commit()
    return PlanRef(
        id=result.plan_id, name=result.name, version=result.version, outcome=result.outcome
    )


IfMatch = Annotated[
    str | None, Header(description='the version you edited, as GET returned it in ETag (e.g. "3")')
]


@router.put(
    "/plans/{plan_id}",
    tags=["plans"],
    responses={428: {"model": ErrorBody, "description": "If-Match missing"}},
)
def update_plan(
    plan_id: PlanId,
    document: PlanDocument,
    identity: Admin,
    session: SessionDep,
    if_match: IfMatch = None,
) -> PlanRef:
    """Change a plan; `If-Match` carries the version the change was made to (409 if the
    plan changed since: nobody's edit is overwritten unseen)."""
    main = store.main_plan(session, plan_id)
    if main.name != document.name:
        raise Conflict("name", f"plan {plan_id} is named {main.name!r}; names do not change")
    result = store.apply(
        session,
        document,
        by=identity.user,
        only="update",
        plan_id=plan_id,
        version=_version(if_match),
    )
    session.commit()
    return PlanRef(
        id=result.plan_id, name=result.name, version=result.version, outcome=result.outcome
    )


def _version(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired(
            "If-Match",
            'the version you changed is required, as GET returned it in ETag (If-Match: "3")',
        )
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 18:
        raise NightwatchError("If-Match", f'{if_match!r} is not a plan version (e.g. "3")')
    return int(value)


@router.get("/plans/{plan_id}", tags=["plans"])
def get_plan(
    plan_id: PlanId, identity: Viewer, session: SessionDep, response: Response
) -> StoredPlan:
    """A plan and its version (also in ETag: send it back in If-Match to change it)."""
    main = store.main_plan(session, plan_id)
    response.headers["ETag"] = f'"{main.version}"'
    return StoredPlan(id=main.id, version=main.version, document=store.export(session, main.id))


@router.get("/plans/{plan_id}/file", tags=["plans"], response_class=PlainTextResponse)
def export_plan(plan_id: PlanId, identity: Viewer, session: SessionDep) -> str:
    """The plan as a YAML plan file."""
    return files.to_yaml(store.export(session, store.main_plan(session, plan_id).id))


@router.delete("/plans/{plan_id}", status_code=204, tags=["plans"])
def delete_plan(plan_id: PlanId, identity: Admin, session: SessionDep) -> Response:
    store.delete(session, store.main_plan(session, plan_id).id, by=identity.user)
    session.commit()
    return Response(status_code=204)


@router.post("/plans/validate", tags=["plans"])
def validate_plan(body: dict[str, Any], identity: Viewer, session: SessionDep) -> Validity:
    """Check a plan without storing it: 200 when valid, 422 with every problem otherwise."""
    document = parse_document(body)
    check(document, CatalogView.load(session))
    return Validity(valid=True, name=document.name)


@router.get("/actions", tags=["catalog"])
def list_actions(
    identity: Viewer, session: SessionDep, include_retired: bool = Query(False)
) -> list[dict[str, Any]]:
    return load_actions(session, include_retired=include_retired)


@router.get("/actions/{code}", tags=["catalog"])
def get_action(code: str, identity: Viewer, session: SessionDep) -> dict[str, Any]:
    for action in load_actions(session, include_retired=True):
        if action["code"] == code:
            return action
    raise NotFound(code, "no such action")


@router.get("/actions/{code}/params/{name}/options", tags=["catalog"])
async def parameter_options(
    code: str, name: str, request: Request, identity: Viewer, session: SessionDep
) -> Options:
    """Allowed values of a parameter from its option source, filtered as it declares; other
    parameters it depends on (e.g. `app`) are passed as query parameters."""
    action = get_action(code, identity, session)
    param = next((p for p in action["params"] if p["name"] == name), None)
    if param is None:
        raise NotFound(f"{code}.{name}", "no such parameter")
    if not param["option_source"]:
        raise NightwatchError(f"{code}.{name}", "this parameter has no option source")
    filter_ = InstanceFilter(param["option_filter"]) if param["option_filter"] else None
    context = {key: value for key, value in request.query_params.items()}
    options = await options_for(session, param["option_source"], filter_, context)
    return Options(source=param["option_source"], filter=param["option_filter"], options=options)
