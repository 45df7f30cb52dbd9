"""Plan validation: every problem at once, each with its path, before anything is written.

Paths read plan → sub-plan → step → parameter, e.g.
`sub_plans[DISASTER_SWITCH].steps[2].params.pods`. Steps are numbered from 1, as their
`execute_order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE, secret_params
from nightwatch.errors import NightwatchError
from nightwatch.sealing import plaintext_secrets
from plans.model import PlanDocument, StepDoc, StepStrategy
from storage.enums import Scene
from storage.models import PlanAction

MAX_SUB_PLANS = 3
# Atomic steps in one plan: half of the largest plan measured to complete (4,000;
# bench/results/history.md). Beyond about 8,000 the execution's snapshot passes Temporal's
# 2 MB payload limit and the execution cannot start.
MAX_STEPS = 2000


class Problem(BaseModel):
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class PlanInvalid(NightwatchError):
    """A plan that cannot be stored; `problems` lists every reason with its path."""

    def __init__(self, plan: str, problems: list[Problem]) -> None:
        super().__init__(plan, f"{len(problems)} problem(s): " + "; ".join(map(str, problems)))
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": "PlanInvalid",
            "path": self.path,
            "reason": self.reason,
            "problems": [problem.model_dump() for problem in self.problems],
        }


@dataclass(frozen=True)
class StoredAction:
    id: int
    code: str
    scenes: list[str]
    user_visible: bool
    invisible_reason: str | None
    retired_in_version: str | None


class CatalogView:
    """The catalog as the database holds it, for validating plans against."""

    def __init__(self, actions: dict[str, StoredAction]) -> None:
        self.by_code = actions
        self.by_id = {action.id: action for action in actions.values()}

    @classmethod
    def load(cls, session: Session) -> CatalogView:
        rows = session.execute(
            select(
                PlanAction.id,
                PlanAction.code,
                PlanAction.scenes,
                PlanAction.user_visible,
                PlanAction.invisible_reason,
                PlanAction.retired_in_version,
            )
        )
        return cls({row.code: StoredAction(*row) for row in rows})


def code_catalog() -> CatalogView:
    """This server's declared catalog, for checking a plan file with no database at hand."""
    return CatalogView(
        {
            spec.code: StoredAction(
                id=index,
                code=spec.code,
                scenes=[str(s) for s in spec.scenes],
                user_visible=True,
                invisible_reason=None,
                retired_in_version=None,
            )
            for index, spec in enumerate(ACTIONS_BY_CODE.values(), 1)
        }
    )


def parse_problems(error: ValidationError) -> list[Problem]:
    """Pydantic's errors as problems with our paths (`steps[1].name`, 1-based steps)."""
    problems = []
    for item in error.errors():
        parts: list[str] = []
        for part in item["loc"]:
            if isinstance(part, int):
                parts[-1] = f"{parts[-1]}[{part + 1}]" if parts else f"[{part + 1}]"
            else:
                parts.append(str(part))
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(Problem(path=".".join(parts) or "(plan)", reason=reason))
    return problems


def parse_document(data: Any, *, name: str = "plan") -> PlanDocument:
    """Parse raw data (from YAML or JSON) into a document, or raise PlanInvalid."""
    try:
        return PlanDocument.model_validate(data)
    except ValidationError as exc:
        raise PlanInvalid(name, parse_problems(exc)) from None


def validate(document: PlanDocument, catalog: CatalogView) -> list[Problem]:
    problems = _structure(document)
    seen_names: dict[str, set[str]] = {}
    for path, step in document.all_steps():
        scope = path.rsplit(".", 1)[0] if "." in path else ""
        names = seen_names.setdefault(scope, set())
        if step.name in names:
            problems.append(Problem(path=f"{path}.name", reason=f"step name {step.name!r} repeats"))
        names.add(step.name)
        problems += _step(path, step, document.scene, catalog)
    return problems


def check(document: PlanDocument, catalog: CatalogView) -> None:
    problems = validate(document, catalog)
    if problems:
        raise PlanInvalid(document.name, problems)


def _structure(document: PlanDocument) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: str, reason: str) -> None:
        problems.append(Problem(path=path, reason=reason))

    total = len(document.steps) + sum(len(sub.steps) for sub in document.sub_plans)
    if total > MAX_STEPS:
        add("steps", f"{total} steps; a plan holds at most {MAX_STEPS} (split it into plans)")
    if document.scene == Scene.RECOVERY:
        if document.steps:
            add("steps", "a disaster-recovery plan has its steps in sub_plans")
        count = len(document.sub_plans)
        if not 1 <= count <= MAX_SUB_PLANS:
            add("sub_plans", f"needs 1 to {MAX_SUB_PLANS} sub-plans, got {count}")
        types = [sub.type for sub in document.sub_plans]
        for sub_type in sorted({t for t in types if types.count(t) > 1}):
            add(f"sub_plans[{sub_type}]", "sub-plan type appears more than once")
        for sub in document.sub_plans:
            if not sub.steps:
                add(f"sub_plans[{sub.type}].steps", "a sub-plan needs at least one step")
        return problems
    if document.sub_plans:
        add("sub_plans", f"only RECOVERY plans have sub-plans, not {document.scene}")
    if not document.steps:
        add("steps", "an empty plan: add at least one step")
    for field in ("group_id", "layer"):
        if getattr(document, field) is not None:
            add(field, "used only by disaster-recovery plans")
    return problems


def _step(path: str, step: StepDoc, scene: Scene, catalog: CatalogView) -> list[Problem]:
    problems = [
        Problem(path=f"{path}.strategy.{key}", reason="unknown key")
        for key in StepStrategy.unknown_keys(step.strategy)
    ]
    try:
        StepStrategy.model_validate(step.strategy)
    except ValidationError as exc:
        problems += [
            Problem(path=f"{path}.strategy.{p.path}", reason=p.reason) for p in parse_problems(exc)
        ]
    stored = catalog.by_code.get(step.action)
    spec = ACTIONS_BY_CODE.get(step.action)
    where = f"{path}.action"
    if stored is None and spec is None:
        return [*problems, Problem(path=where, reason=f"unknown action {step.action!r}")]
    if stored is not None and stored.retired_in_version:
        reason = f"action {step.action} was retired in version {stored.retired_in_version}"
        return [*problems, Problem(path=where, reason=reason)]
    if spec is None:
        reason = f"action {step.action} is not known to this server version"
        return [*problems, Problem(path=where, reason=reason)]
    if stored is None:
        reason = f"action {step.action} is not in the database yet (catalog not synced)"
        return [*problems, Problem(path=where, reason=reason)]
    if str(scene) not in stored.scenes:
        reason = (
            f"action {step.action} is not allowed in {scene} plans ({', '.join(stored.scenes)})"
        )
        problems.append(Problem(path=where, reason=reason))
    elif not stored.user_visible:
        reason = f"action {step.action} is not available: {stored.invisible_reason}"
        problems.append(Problem(path=where, reason=reason))
    fields = set(spec.params.model_fields)
    for name in step.pending:
        if name not in fields:
            problems.append(
                Problem(
                    path=f"{path}.pending", reason=f"{name!r} is not a parameter of {step.action}"
                )
            )
    for problem in check_parameters(spec.params, step.params, may_be_missing=set(step.pending)):
        problems.append(Problem(path=f"{path}.params.{problem.field}", reason=problem.reason))
    for name in plaintext_secrets(step.params, secret_params(step.action)):
        problems.append(
            Problem(
                path=f"{path}.params.{name}",
                reason="a secret: a plan file "
                "holds only env:NAME (read on the worker); or give the value "
                "at run time (nightwatch run --set, sealed)",
            )
        )
    return problems
