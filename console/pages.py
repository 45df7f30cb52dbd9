"""The console's pages, rendered on the server from the same functions the API's routes
run (no second query path), in English or Chinese. Writes go from the browser to the JSON
API (console/static/console.js) with the session's CSRF token; a page shows only the
buttons the signed-in person's roles allow, and the API checks again.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError

from api import executions as execution_routes
from api import inspections as inspection_routes
from api import risk as risk_routes
from api import routes as plan_routes
from api.deps import SessionDep, get_executions, get_inspections
from catalog.registry import ACTIONS_BY_CODE
from console import i18n
from executions.inbox import waiting
from executions.service import ExecutionError
from identity.guard import COOKIE, Viewer, authenticator
from identity.model import Identity, Role, role_names
from nightwatch.errors import NightwatchError
from nightwatch.temporal import TemporalUnavailable
from plans import store
from risk import dashboard
from risk.actions import RiskActionError
from storage.enums import ExecutionState, NodeState, RiskState
from workflows.models import ExecutionView, NodeView

HERE = FilePath(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)
router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 25
ENDED = {"SUCCEEDED", "FAILED", "ABORTED", "CANCELLED"}
DECIDING = {
    NodeState.WAITING_CONFIRMATION: [
        ("confirm", Role.APPROVER),
        ("reject", Role.APPROVER),
        ("skip", Role.OPERATOR),
        ("abort", Role.OPERATOR),
    ],
    NodeState.WAITING_PARAMETERS: [("skip", Role.OPERATOR), ("abort", Role.OPERATOR)],
    NodeState.FAILED_WAITING: [
        ("retry", Role.OPERATOR),
        ("skip", Role.OPERATOR),
        ("done", Role.OPERATOR),
        ("abort", Role.OPERATOR),
    ],
}


def _manifest() -> dict[str, str]:
    path = STATIC / "vendor" / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


async def _csrf(request: Request) -> str | None:
    secret = request.cookies.get(COOKIE)
    if not secret or request.headers.get("authorization"):
        return None
    return (await authenticator(request).session(secret)).csrf_token


def _language(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


async def render(
    request: Request,
    identity: Identity,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    language = _language(request)
    gettext = i18n.translator(language)
    can = {
        "operate": identity.has(Role.OPERATOR),
        "approve": identity.has(Role.APPROVER),
        "admin": identity.has(Role.ADMIN),
    }
    response = templates.TemplateResponse(
        request,
        template,
        {
            "_": gettext,
            "lang": language,
            "languages": i18n.LANGUAGES,
            "me": identity,
            "roles": role_names(identity.roles),
            "can": can,
            "csrf": await _csrf(request),
            "sri": _manifest(),
            "path": request.url.path,
            "query": request.url.query,
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
    return cast(HTMLResponse, response)


def _url(base: str, params: dict[str, Any]) -> str:
    pairs = [
        (key, item)
        for key, value in params.items()
        for item in (value if isinstance(value, list) else [value])
        if item not in (None, "", [])
    ]
    return f"{base}?{urlencode(pairs)}" if pairs else base


@router.get("", response_class=RedirectResponse)
def console_home(identity: Viewer) -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/console/",
    failed: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The sign-in page (open to everyone: it is how one becomes someone)."""
    language = _language(request)
    auth = authenticator(request)
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "_": i18n.translator(language),
            "lang": language,
            "languages": i18n.LANGUAGES,
            "next": next_path
            if next_path.startswith("/") and not next_path.startswith("//")
            else "/console/",
            "failed": failed,
            "local": auth.config.local_accounts,
            "provider": auth.provider is not None,
            "sri": _manifest(),
            "path": request.url.path,
            "query": "",
        },
        status_code=401 if failed else 200,
    )
    return cast(HTMLResponse, response)


@router.get("/language/{language}", response_class=RedirectResponse)
def switch_language(
    language: Annotated[str, Path(pattern="^(en|zh)$")],
    back: Annotated[str, Query(max_length=2000)] = "/console/",
) -> Response:
    """The language switch (open to everyone, it sets a cookie and changes nothing else)."""
    target = back if back.startswith("/console") else "/console/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(i18n.COOKIE, language, max_age=365 * 86400, samesite="lax", path="/")
    return response


# -- the risk dashboard ---------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    identity: Viewer,
    session: SessionDep,
    severity: Annotated[list[str] | None, Query(max_length=20)] = None,
    source: Annotated[list[str] | None, Query(max_length=3)] = None,
    state: Annotated[list[str] | None, Query(max_length=4)] = None,
    resource: Annotated[str | None, Query(max_length=600)] = None,
    plan: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=20)] = "newest",
    page: Annotated[int, Query(ge=1, le=4000)] = 1,
) -> HTMLResponse:
    chosen: dict[str, Any] = {
        "severity": [s for s in severity or [] if s],
        "source": [s for s in source or [] if s],
        "state": [s for s in state or [] if s],
        "resource": resource or "",
        "plan": plan or "",
        "q": q or "",
        "since": since or "",
        "until": until or "",
        "sort": sort,
    }
    problem = None
    listed = None
    dashboard.expire_shelved(session)
    try:
        filters = dashboard.EventFilter(
            severity=chosen["severity"],
            source=chosen["source"],
            state=chosen["state"],
            resource=chosen["resource"] or None,
            plan=chosen["plan"] or None,
            text=chosen["q"] or None,
            since=_when(chosen["since"]),
            until=_when(chosen["until"]),
        )
        if sort not in get_args(dashboard.Sort):
            raise RiskActionError(422, "InvalidValue", "sort", f"unknown order {sort!r}")
        listed = dashboard.events(
            session,
            filters,
            sort=cast(dashboard.Sort, sort),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = {"path": str(first["loc"][0]) if first["loc"] else "", "reason": first["msg"]}
    except RiskActionError as exc:
        problem = {"path": exc.path, "reason": exc.reason}
    here = {k: v for k, v in chosen.items() if v}
    return await render(
        request,
        identity,
        "dashboard.html",
        counts=dashboard.counts(session),
        listed=listed,
        problem=problem,
        chosen=chosen,
        plans=dashboard.plans_named(session),
        severities=dashboard.SEVERITIES[:-1],
        severity_names={s: i18n.translator(_language(request))(s) for s in dashboard.SEVERITIES},
        states=[s.value for s in RiskState],
        sources=["alert", "inspection", "diagnosis"],
        page=page,
        page_size=PAGE_SIZE,
        url_for_page=lambda n: _url("/console/", {**here, "page": n}),
        url_for_sort=lambda s: _url("/console/", {**here, "sort": s}),
        url_for=lambda **changed: _url("/console/", {**here, **changed}),
    )


def _when(value: str) -> datetime | None:
    """A time from the filter form: `datetime-local` values are in the browser's zone, which
    the form sends as an offset (console.js); an ISO time with a zone is taken as it is."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RiskActionError(422, "InvalidValue", "since", f"not a time: {value!r}") from None


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    identity: Viewer,
    session: SessionDep,
) -> HTMLResponse:
    try:
        story = await risk_routes.story(event_id, identity, session, request)
    except RiskActionError as exc:
        return await render(request, identity, "missing.html", 404, what=exc.reason)
    proposal = (
        {"plan": story.event.plan_name, "overrides": story.proposed_overrides}
        if story.can_start_plan
        else None
    )
    return await render(
        request,
        identity,
        "event.html",
        story=story,
        event=story.event,
        proposal=proposal,
    )


# -- the inbox --------------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request, identity: Viewer, session: SessionDep) -> HTMLResponse:
    who = execution_routes._who(identity)
    items = waiting(session, who)
    forms: dict[tuple[str, str], list[dict[str, Any]]] = {}
    views: dict[str, ExecutionView | None] = {}
    for item in items:
        if item.waits_for != "parameters":
            continue
        if item.execution not in views:
            views[item.execution] = await _view(request, item.execution)
        view = views[item.execution]
        node = next((n for n in view.nodes if n.key == item.node), None) if view else None
        forms[(item.execution, item.node)] = _fields(node, item.missing)
    return await render(request, identity, "inbox.html", items=items, forms=forms)


def _fields(node: NodeView | None, missing: list[str]) -> list[dict[str, Any]]:
    """The form for a node's pending parameters, from its action's parameter schema."""
    action = ACTIONS_BY_CODE.get(node.action or "") if node else None
    if action is None or node is None:
        return [
            {"name": name, "label": name, "type": "string", "required": True} for name in missing
        ]
    fields = []
    for info in action.param_infos:
        if info.name not in missing:
            continue
        fields.append(
            {
                "name": info.name,
                "label": info.display_name,
                "description": info.description,
                "type": info.type,
                "required": info.required,
                "secret": info.secret,
                "default": info.default,
                "pattern": (info.validation or {}).get("pattern"),
                "options": f"/api/v1/actions/{action.code}/params/{info.name}/options"
                if info.option_source
                else None,
                "depends_on": (info.validation or {}).get("options_depend_on", []),
                "known": {k: v for k, v in node.params.items() if isinstance(v, str | int)},
            }
        )
    return fields


async def _view(request: Request, execution: str) -> ExecutionView | None:
    try:
        return await (await get_executions(request)).view(execution)
    except (ExecutionError, TemporalUnavailable):
        return None


# -- executions -------------------------------------------------------------------------------


@router.get("/executions", response_class=HTMLResponse)
async def executions_page(
    request: Request,
    identity: Viewer,
    session: SessionDep,
    state: Annotated[list[str] | None, Query(max_length=7)] = None,
    plan: Annotated[str | None, Query(max_length=200)] = None,
    trigger: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    states = [ExecutionState(s) for s in state or [] if s in ExecutionState.__members__]
    triggers = ("OPERATOR", "ALERT", "SCHEDULE", "RERUN")
    listed = execution_routes.list_executions(
        identity,
        session,
        state=states or None,
        plan=plan or None,
        trigger=trigger if trigger in triggers else None,  # type: ignore[arg-type]
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    here = {"state": [s.value for s in states], "plan": plan, "trigger": trigger}
    return await render(
        request,
        identity,
        "executions.html",
        listed=listed,
        chosen=here,
        states=[s.value for s in ExecutionState],
        triggers=triggers,
        plans=dashboard.plans_named(session),
        page=page,
        page_size=PAGE_SIZE,
        url_for_page=lambda n: _url("/console/executions", {**here, "page": n}),
    )


ExecutionPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/executions/{execution}", response_class=HTMLResponse)
async def execution_page(
    execution: ExecutionPath, request: Request, identity: Viewer
) -> HTMLResponse:
    return await _execution(request, identity, execution, "execution.html")


@router.get("/executions/{execution}/live", response_class=HTMLResponse)
async def execution_live(
    execution: ExecutionPath, request: Request, identity: Viewer
) -> HTMLResponse:
    """The plan tree alone: the execution page polls it while the execution runs."""
    return await _execution(request, identity, execution, "execution_tree.html")


async def _execution(
    request: Request, identity: Identity, execution: str, template: str
) -> HTMLResponse:
    try:
        view = await (await get_executions(request)).view(execution)
    except (ExecutionError, NightwatchError) as exc:
        reason = getattr(exc, "reason", str(exc))
        return await render(request, identity, "missing.html", 404, what=reason)
    settings = risk_routes.settings_of(request)
    return await render(
        request,
        identity,
        template,
        view=view,
        groups=_tree(view),
        ended=view.state in ENDED,
        decisions=lambda node: [
            kind for kind, role in DECIDING.get(node.state, []) if identity.has(role)
        ],
        fields=lambda node: _fields(node, node.missing),
        web_ui=risk_routes.execution_url(settings, execution),
    )


def _tree(view: ExecutionView) -> list[dict[str, Any]]:
    """The plan's steps, with each DR sub-plan's steps under it (in their fixed order)."""
    groups: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    for node in view.nodes:
        parent = node.key.split(".")[0] if "." in node.key else None
        if parent and parent in by_key:
            by_key[parent]["children"].append(node)
            continue
        entry = {"node": node, "children": []}
        by_key[node.key] = entry
        groups.append(entry)
    return groups


# -- plans and inspections ----------------------------------------------------------------------


@router.get("/plans", response_class=HTMLResponse)
async def plans_page(request: Request, identity: Viewer, session: SessionDep) -> HTMLResponse:
    return await render(
        request, identity, "plans.html", plans=plan_routes.list_plans(identity, session)
    )


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(
    plan_id: Annotated[str, Path(min_length=1, max_length=200)],
    request: Request,
    identity: Viewer,
    session: SessionDep,
) -> HTMLResponse:
    try:
        ref = int(plan_id) if plan_id.isdigit() else plan_id
        stored = plan_routes.get_plan(
            store.main_plan(session, ref).id, identity, session, Response()
        )
    except NightwatchError as exc:
        return await render(request, identity, "missing.html", 404, what=str(exc))
    return await render(request, identity, "plan.html", plan=stored, doc=stored.document)


@router.get("/inspections", response_class=HTMLResponse)
async def inspections_page(request: Request, identity: Viewer) -> HTMLResponse:
    try:
        listed = await inspection_routes.list_inspections(identity, await get_inspections(request))
        problem = None
    except NightwatchError as exc:
        listed, problem = [], str(exc)
    return await render(request, identity, "inspections.html", listed=listed, problem=problem)


@router.get("/inspections/{name}", response_class=HTMLResponse)
async def inspection_page(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    request: Request,
    identity: Viewer,
) -> HTMLResponse:
    try:
        shown = await inspection_routes.show_inspection(
            name, identity, await get_inspections(request)
        )
    except NightwatchError as exc:
        return await render(request, identity, "missing.html", 404, what=str(exc))
    return await render(request, identity, "inspection.html", plan=shown)
