"""Store plans in the shapes the domain fixes, and read them back as documents.

An emergency or self-recovery plan is one MAIN row (atomic) and its ATOMIC_ACTION steps.
A disaster-recovery plan is one MAIN row (not atomic), one row per sub-plan sharing its
group and layer, one PRE_PLAN_TEMPLATE step per sub-plan on the MAIN in the fixed order,
and each sub-plan's ATOMIC_ACTION steps numbered from 1: 1+n plans, n+m steps.

Applying is idempotent: the document is compared with what is stored in canonical form,
and nothing is written when they match. An edit bumps the version and reuses step rows
by position; a removed step or sub-plan is marked deleted, never dropped, because
executions point at it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from nightwatch.errors import Conflict, NotFound
from plans.model import PlanDocument, StepDoc, StepStrategy, SubPlanDoc, sorted_sub_plans
from plans.validation import CatalogView, PlanInvalid, Problem, check
from storage.enums import PlanType, Scene, StepType
from storage.models import Plan, PlanAction, PlanStep

TEMPLATE_STRATEGY = {"preConfirm": True, "timeoutSeconds": 0}
Outcome = Literal["created", "updated", "unchanged"]


class PlanNotFound(NotFound):
    pass


@dataclass(frozen=True)
class ApplyResult:
    plan_id: int
    name: str
    version: int
    outcome: Outcome


# -- canonical form ------------------------------------------------------------------------


def default_group_id(name: str) -> str:
    return "dr-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def canonical(document: PlanDocument) -> PlanDocument:
    """The document as it will read back from the database: defaults filled, order fixed."""

    def step(s: StepDoc) -> StepDoc:
        strategy = StepStrategy.model_validate(s.strategy).compact()
        return s.model_copy(update={"strategy": strategy})

    if document.scene != Scene.RECOVERY:
        return document.model_copy(update={"steps": [step(s) for s in document.steps]})
    subs = [
        SubPlanDoc(
            type=sub.type,
            name=sub.name or f"{document.name} / {sub.type}",
            site=sub.site,
            steps=[step(s) for s in sub.steps],
        )
        for sub in sorted_sub_plans(document.sub_plans)
    ]
    return document.model_copy(
        update={"sub_plans": subs, "group_id": document.group_id or default_group_id(document.name)}
    )


# -- apply ---------------------------------------------------------------------------------


def apply(
    session: Session,
    document: PlanDocument,
    *,
    by: str | None = None,
    only: Literal["create", "update"] | None = None,
    plan_id: int | None = None,
    version: int | None = None,
) -> ApplyResult:
    """Create or update the plan named in the document; the caller commits.

    `only="create"` refuses a name that exists; `only="update"` changes plan `plan_id`
    only if it is still at `version` (what the editor read), so two editors never
    overwrite each other unseen. Both are decided under the plan's lock."""
    catalog = CatalogView.load(session)
    check(document, catalog)
    wanted = canonical(document)
    session.execute(text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": wanted.name})
    main = session.scalar(
        select(Plan).where(
            Plan.name == wanted.name, Plan.type == PlanType.MAIN, Plan.deleted_at.is_(None)
        )
    )
    if only == "create" and main is not None:
        raise Conflict(
            wanted.name,
            f"a plan with this name exists (id {main.id}, version "
            f"{main.version}): change it with PUT /api/v1/plans/{main.id}",
        )
    if only == "update":
        if main is None or main.id != plan_id:
            raise PlanNotFound(str(plan_id), f"no plan {plan_id} named {wanted.name!r}")
        if main.version != version:
            raise Conflict(
                "version",
                f"plan {plan_id} is at version {main.version}, not "
                f"{version}: it changed since you read it; read it again",
            )
    if main is None:
        main = _create(session, wanted, catalog, by)
        return ApplyResult(main.id, main.name, main.version, "created")
    if main.scene != wanted.scene:
        problem = Problem(
            path="scene",
            reason=f"plan {main.name!r} is {main.scene}; a scene "
            "cannot change (delete the plan and apply it again)",
        )
        raise PlanInvalid(wanted.name, [problem])
    if export(session, main.id) == wanted:
        return ApplyResult(main.id, main.name, main.version, "unchanged")
    _update(session, main, wanted, catalog, by)
    return ApplyResult(main.id, main.name, main.version, "updated")


def _create(session: Session, doc: PlanDocument, catalog: CatalogView, by: str | None) -> Plan:
    recovery = doc.scene == Scene.RECOVERY
    main = Plan(
        name=doc.name,
        description=doc.description,
        scene=doc.scene,
        type=PlanType.MAIN,
        atomic=not recovery,
        group_id=doc.group_id,
        layer=doc.layer,
        enabled=doc.enabled,
        four_eyes=doc.four_eyes,
        version=1,
        created_by=by,
        updated_by=by,
    )
    session.add(main)
    session.flush()
    if recovery:
        _write_sub_plans(session, main, doc, catalog, {})
    else:
        _write_steps(session, main.id, doc.steps, catalog)
    return main


def _update(
    session: Session, main: Plan, doc: PlanDocument, catalog: CatalogView, by: str | None
) -> None:
    main.description, main.enabled, main.updated_by = doc.description, doc.enabled, by
    main.four_eyes = doc.four_eyes
    main.group_id, main.layer = doc.group_id, doc.layer
    main.version += 1
    if doc.scene == Scene.RECOVERY:
        _write_sub_plans(session, main, doc, catalog, _sub_plans_of(session, main.id))
    else:
        _write_steps(session, main.id, doc.steps, catalog)
    session.flush()


def _sub_plans_of(session: Session, main_id: int) -> dict[str, Plan]:
    """Sub-plan rows ever linked from this MAIN plan, by type (deleted ones too)."""
    ids = session.scalars(
        select(PlanStep.atom_id).where(
            PlanStep.plan_id == main_id, PlanStep.type == StepType.PRE_PLAN_TEMPLATE
        )
    )
    return {plan.type: plan for plan in session.scalars(select(Plan).where(Plan.id.in_(ids)))}


def _write_sub_plans(
    session: Session, main: Plan, doc: PlanDocument, catalog: CatalogView, old: dict[str, Plan]
) -> None:
    now = datetime.now(UTC)
    templates: list[tuple[str, int, str | None]] = []
    for sub in doc.sub_plans:  # canonical: fixed order
        row = old.pop(sub.type, None)
        if row is None:
            row = Plan(scene=Scene.RECOVERY, type=sub.type, atomic=True, created_by=main.updated_by)
            session.add(row)
        row.name, row.description, row.deleted_at = sub.name or sub.type, None, None
        row.group_id, row.layer, row.version = main.group_id, main.layer, main.version
        row.enabled, row.updated_by = main.enabled, main.updated_by
        session.flush()
        _write_steps(session, row.id, sub.steps, catalog)
        templates.append((sub.type, row.id, sub.site))
    for row in old.values():  # sub-plans no longer chosen, with their steps
        row.deleted_at = row.deleted_at or now
        _write_rows(session, row.id, [])
    _write_rows(
        session,
        main.id,
        [
            {
                "name": sub_type,
                "type": StepType.PRE_PLAN_TEMPLATE,
                "atom_id": plan_id,
                "execute_strategy": {**TEMPLATE_STRATEGY, **({"site": site} if site else {})},
                "execute_context": None,
                "pending_params": None,
            }
            for sub_type, plan_id, site in templates
        ],
    )


def _write_steps(
    session: Session, plan_id: int, steps: list[StepDoc], catalog: CatalogView
) -> None:
    _write_rows(
        session,
        plan_id,
        [
            {
                "name": step.name,
                "type": StepType.ATOMIC_ACTION,
                "atom_id": catalog.by_code[step.action].id,
                "execute_strategy": StepStrategy.model_validate(step.strategy).stored(),
                "execute_context": dict(step.params),
                "pending_params": list(step.pending) or None,
            }
            for step in steps
        ],
    )


def _write_rows(session: Session, plan_id: int, wanted: list[dict[str, object]]) -> None:
    """Steps 1..n of a plan: reuse rows by position, insert the rest, mark the tail deleted."""
    rows = {
        row.execute_order: row
        for row in session.scalars(select(PlanStep).where(PlanStep.plan_id == plan_id))
    }
    now = datetime.now(UTC)
    for order, values in enumerate(wanted, 1):
        row = rows.pop(order, None)
        if row is None:
            row = PlanStep(plan_id=plan_id, execute_order=order)
            session.add(row)
        for key, value in values.items():
            setattr(row, key, value)
        row.deleted_at = None
    for row in rows.values():
        row.deleted_at = row.deleted_at or now
    session.flush()


# -- read back -------------------------------------------------------------------------------


def _live_steps(session: Session, plan_id: int) -> list[PlanStep]:
    return list(
        session.scalars(
            select(PlanStep)
            .where(PlanStep.plan_id == plan_id, PlanStep.deleted_at.is_(None))
            .order_by(PlanStep.execute_order)
        )
    )


def _step_docs(rows: list[PlanStep], codes: dict[int, str]) -> list[StepDoc]:
    return [
        StepDoc(
            name=row.name,
            action=codes[row.atom_id],
            params=row.execute_context or {},
            pending=row.pending_params or [],
            strategy=StepStrategy.model_validate(row.execute_strategy).compact(),
        )
        for row in rows
    ]


def _by_id(ref: str | int) -> bool:
    """A plan reference is its id when it is all digits, else its name."""
    return isinstance(ref, int) or str(ref).isdigit()


def _live_main(query: Select[Plan], ref: str | int) -> Select[Plan]:
    query = query.where(Plan.type == PlanType.MAIN, Plan.deleted_at.is_(None))
    if _by_id(ref):
        return query.where(Plan.id == int(ref))
    return query.where(Plan.name == ref)


def main_plan(session: Session, ref: str | int) -> Plan:
    """A live MAIN plan by id or by name."""
    plan = session.scalar(_live_main(select(Plan), ref))
    if plan is None:
        raise PlanNotFound(str(ref), "no such plan (`nightwatch plan list`)")
    return plan


@dataclass(frozen=True)
class PlanRef:
    """What starting an execution reads of a live MAIN plan: one row, no ORM object (every
    run starts with this read)."""

    id: int
    name: str
    version: int
    scene: str
    updated_at: datetime


# Built once: every run's creation reads its plan through one of these (`_live_main`'s
# conditions, as text: no statement to build and compile per run).
_REF = (
    "SELECT id, name, version, scene, updated_at FROM pre_plan "
    f"WHERE type = '{PlanType.MAIN.value}' AND deleted_at IS NULL"
)
_REF_BY_ID = text(f"{_REF} AND id = :ref")
_REF_BY_NAME = text(f"{_REF} AND name = :ref")


def main_plan_ref(session: Session, ref: str | int) -> PlanRef:
    """`main_plan`, as the columns an execution's creation needs."""
    statement, value = (_REF_BY_ID, int(ref)) if _by_id(ref) else (_REF_BY_NAME, ref)
    row = session.connection().execute(statement, {"ref": value}).first()
    if row is None:
        raise PlanNotFound(str(ref), "no such plan (`nightwatch plan list`)")
    return PlanRef(*row)


def export(session: Session, plan_id: int) -> PlanDocument:
    """The stored plan as a document; applying it again changes nothing."""
    main = session.get(Plan, plan_id)
    if main is None or main.type != PlanType.MAIN:
        raise PlanNotFound(str(plan_id), "no such plan")
    return document(session, main, step_tree(session, main.id), action_codes(session))


def action_codes(session: Session) -> dict[int, str]:
    """Action code by plan_action id."""
    return {row.id: row.code for row in session.execute(select(PlanAction.id, PlanAction.code))}


def document(
    session: Session,
    main: Plan,
    tree: list[tuple[PlanStep, list[PlanStep] | None]],
    codes: dict[int, str],
) -> PlanDocument:
    """The document of a main plan whose step tree (`step_tree`) is already loaded."""
    doc = PlanDocument(
        name=main.name,
        description=main.description,
        scene=Scene(main.scene),
        enabled=main.enabled,
        four_eyes=main.four_eyes,
        group_id=main.group_id,
        layer=main.layer,
    )
    if main.scene != Scene.RECOVERY:
        return doc.model_copy(update={"steps": _step_docs([row for row, _ in tree], codes)})
    subs = []
    for template, children in tree:
        sub = session.get(Plan, template.atom_id)
        assert sub is not None, f"template step {template.id} names no plan"
        subs.append(
            SubPlanDoc.model_validate(
                {
                    "type": sub.type,
                    "name": sub.name,
                    "site": (template.execute_strategy or {}).get("site"),
                    "steps": _step_docs(children or [], codes),
                }
            )
        )
    return doc.model_copy(update={"sub_plans": subs})


class PlanSummary(BaseModel):
    id: int
    name: str
    scene: str
    version: int
    enabled: bool
    steps: int
    updated_at: datetime


def list_plans(session: Session) -> list[PlanSummary]:
    step_count = (
        select(func.count())
        .select_from(PlanStep)
        .where(PlanStep.plan_id == Plan.id, PlanStep.deleted_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Plan.id,
            Plan.name,
            Plan.scene,
            Plan.version,
            Plan.enabled,
            step_count.label("steps"),
            Plan.updated_at,
        )
        .where(Plan.type == PlanType.MAIN, Plan.deleted_at.is_(None))
        .order_by(Plan.name)
    )
    return [PlanSummary.model_validate(row._asdict()) for row in rows]


def delete(session: Session, plan_id: int, *, by: str | None = None) -> None:
    """Mark the plan and its sub-plans deleted; executions keep pointing at the rows."""
    main = session.get(Plan, plan_id)
    if main is None or main.type != PlanType.MAIN or main.deleted_at is not None:
        raise PlanNotFound(str(plan_id), "no such plan")
    now = datetime.now(UTC)
    for plan in [main, *_sub_plans_of(session, main.id).values()]:
        plan.deleted_at = plan.deleted_at or now
        plan.updated_by = by
    session.flush()


def step_tree(session: Session, plan_id: int) -> list[tuple[PlanStep, list[PlanStep] | None]]:
    """Live steps of a plan in execution order; a template step comes with its sub-plan's."""
    tree: list[tuple[PlanStep, list[PlanStep] | None]] = []
    for row in _live_steps(session, plan_id):
        children = (
            _live_steps(session, row.atom_id) if row.type == StepType.PRE_PLAN_TEMPLATE else None
        )
        tree.append((row, children))
    return tree
