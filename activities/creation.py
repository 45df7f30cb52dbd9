"""Creating an execution: the plan's snapshot, the execution row and one row per node.

Every run starts here, so it is kept cheap: a plan version's step tree and document are
read once and kept (a plan's version changes with every edit of it or of its sub-plans),
the snapshot is checked before anything is written, and the rows go in with their ids
allocated up front: one query for the plan (its columns, no ORM object), one for the ids,
and one statement inserting the execution (with its snapshot) and all its nodes, so no
transaction is needed around them (no BEGIN, no COMMIT).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from catalog.options import OptionsError, config_value
from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE, secret_params
from nightwatch.codec import KeyRing
from nightwatch.errors import NightwatchError
from nightwatch.metrics import EXECUTIONS_STARTED
from nightwatch.sealing import SecretError, is_sealed, plaintext_secrets, reseal
from plans import store
from plans.model import StepStrategy
from storage import executions
from storage.enums import ExecutionState, NodeState, StepType
from storage.models import Execution, Plan, PlanStep
from workflows.models import ExecutionInput, ExecutionSnapshot, NodeSpec


class OverrideError(NightwatchError):
    pass


@dataclass(frozen=True)
class StepRow:
    """What a node needs of its plan step (read once per plan version)."""

    id: int
    plan_id: int
    name: str
    type: str
    atom_id: int
    execute_order: int
    execute_context: dict[str, Any] | None
    pending_params: list[str] | None
    execute_strategy: dict[str, Any]
    strategy: StepStrategy

    @classmethod
    def of(cls, row: PlanStep) -> StepRow:
        return cls(
            id=row.id,
            plan_id=row.plan_id,
            name=row.name,
            type=row.type,
            atom_id=row.atom_id,
            execute_order=row.execute_order,
            execute_context=row.execute_context,
            pending_params=row.pending_params,
            execute_strategy=row.execute_strategy,
            strategy=StepStrategy.model_validate(row.execute_strategy),
        )


@dataclass(frozen=True)
class Template:
    """A plan version as executions snapshot it."""

    tree: list[tuple[StepRow, list[StepRow] | None]]
    codes: dict[int, str]
    document: dict[str, Any]

    @property
    def node_count(self) -> int:
        return sum(1 + len(children or []) for _, children in self.tree)


_TEMPLATES: OrderedDict[tuple[str, int, int, datetime], Template] = OrderedDict()
_TEMPLATES_KEPT = 256
_TEMPLATES_LOCK = threading.Lock()


def template(session: Session, plan: store.PlanRef) -> Template:
    """The plan's step tree, action codes and document, read once per plan version."""
    key = (str(session.get_bind().engine.url), plan.id, plan.version, plan.updated_at)
    with _TEMPLATES_LOCK:  # creations run on several threads
        found = _TEMPLATES.get(key)
        if found is not None:
            _TEMPLATES.move_to_end(key)
            return found
    main = session.get(Plan, plan.id)
    assert main is not None, f"plan {plan.id} was read a moment ago"
    tree = store.step_tree(session, plan.id)
    codes = store.action_codes(session)
    made = Template(
        tree=[
            (StepRow.of(step), [StepRow.of(c) for c in children] if children is not None else None)
            for step, children in tree
        ],
        codes=codes,
        document=store.document(session, main, tree, codes).model_dump(mode="json"),
    )
    with _TEMPLATES_LOCK:
        _TEMPLATES[key] = made
        while len(_TEMPLATES) > _TEMPLATES_KEPT:
            _TEMPLATES.popitem(last=False)
    return made


def create(
    session: Session,
    execution_id: str,
    params: ExecutionInput,
    *,
    run_id: str | None = None,
    ring: KeyRing | None = None,
) -> ExecutionSnapshot:
    """Snapshot the plan and insert the execution and its nodes, in one statement: on an
    autocommit connection it needs no transaction around it.

    Raises OverrideError (nothing written) when the run's parameters do not fit the plan,
    and IntegrityError when an execution with this id exists already. `run_id` is the
    workflow run creating it (an id is never reused: see `reused_id`); `ring` re-seals the
    secrets a re-run carries over from the execution it re-runs.
    """
    previous = None
    if params.rerun_of:
        previous = executions.by_execution_id(session, params.rerun_of)
        if previous is None:
            raise OverrideError("rerun_of", f"no execution {params.rerun_of}")
        plan = store.main_plan_ref(session, previous.plan_id)
    else:
        plan = store.main_plan_ref(session, params.plan)
    plan_template = template(session, plan)
    earlier = executions.effective_params(session, previous.id) if previous else {}
    carry = Carry(previous.execution_id, execution_id, ring) if previous else None
    connection = session.connection()
    execution_row, node_ids = executions.allocate_ids(connection, plan_template.node_count)
    ids = iter(node_ids)

    rows: list[dict[str, Any]] = []

    def node(step: StepRow, key: str, parent: int | None) -> NodeSpec:
        spec, row = _node(step, key, plan_template.codes, params, earlier, carry)
        spec.node_id = row["id"] = next(ids)
        rows.append({**row, "execute_order_id": execution_row, "parent_node_id": parent})
        return spec

    # Node ids in plan order: the top-level nodes first, then the sub-plans' steps.
    nodes = [
        node(step, step.name if children is not None else str(step.execute_order), None)
        for step, children in plan_template.tree
    ]
    for spec, (step, children) in zip(nodes, plan_template.tree, strict=True):
        spec.children = [
            node(child, f"{step.name}.{child.execute_order}", spec.node_id)
            for child in children or []
        ]
        for child in spec.children:  # a sub-plan's site is its steps' unless they name one
            if spec.strategy.site and not child.strategy.site:
                child.strategy = child.strategy.model_copy(update={"site": spec.strategy.site})
    _action_sites(session, nodes)
    _check_overrides(params, nodes)
    if params.rerun_from:
        _skip_before(nodes, params.rerun_from)
    snapshot = ExecutionSnapshot(
        execution_id=execution_id,
        execution_row=execution_row,
        plan_id=plan.id,
        plan_name=plan.name,
        plan_version=plan.version,
        scene=plan.scene,
        nodes=nodes,
        four_eyes=bool(plan_template.document.get("four_eyes")),
    )
    executions.insert_execution(
        connection,
        {
            "id": execution_row,
            "execution_id": execution_id,
            "workflow_run_id": run_id,
            "plan_id": plan.id,
            "plan_version": plan.version,
            "state": ExecutionState.RUNNING,
            "trigger_kind": params.trigger_kind,
            "triggered_by": params.triggered_by,
            "overrides": params.overrides,
            "rerun_of_id": previous.id if previous else None,
            "rerun_from_node": params.rerun_from,
            "started_at": datetime.now(UTC),
            "plan_snapshot": {
                "document": plan_template.document,
                "snapshot": snapshot.model_dump(mode="json"),
            },
        },
        rows,
    )
    EXECUTIONS_STARTED.labels(plan.name, params.trigger_kind).inc()
    return snapshot


def _action_sites(session: Session, nodes: list[NodeSpec]) -> None:
    """Steps that name no site (nor their sub-plan) run where their action must
    (system config `execution.action_sites`)."""
    try:
        sites: dict[str, str] = config_value(session, "execution.action_sites") or {}
    except OptionsError:  # an installation from before the setting: no action has a site
        return
    for spec in [*nodes, *(child for node in nodes for child in node.children)]:
        site = sites.get(spec.action or "")
        if site and not spec.strategy.site:
            spec.strategy = spec.strategy.model_copy(update={"site": site})


def reused_id(existing: Execution, run_id: str | None) -> str | None:
    """Why a creation that found its execution id taken may not go on, or None when it is
    this very run's creation retried (its first answer was lost).

    An execution id is never used twice: the secrets sealed for it (nightwatch/sealing.py)
    must not unseal in another run that takes the id of an ended one."""
    if run_id is not None and existing.workflow_run_id == run_id:
        return None
    return (
        f"execution {existing.execution_id}: the id was used already (an execution started "
        f"{existing.started_at:%Y-%m-%d %H:%M:%S} UTC); ids are never reused, start with a new id"
    )


@dataclass(frozen=True)
class Carry:
    """A re-run takes the effective parameters of the execution it re-runs; the secrets
    among them are sealed for that one and are sealed again for the new execution, but
    only into a step whose other parameters are the same."""

    previous: str
    execution: str
    ring: KeyRing | None

    def secrets(self, key: str, earlier: dict[str, Any], values: dict[str, Any]) -> None:
        carried = [n for n, v in earlier.items() if is_sealed(v) and values.get(n) == v]
        if not carried:
            return
        others = {n: v for n, v in values.items() if n not in carried}
        before = {n: v for n, v in earlier.items() if n not in carried}
        if others != before:
            changed = sorted(n for n in {*others, *before} if others.get(n) != before.get(n))
            raise OverrideError(
                f"overrides.{key}.{carried[0]}",
                f"a secret carried over from {self.previous} goes only to the same step with "
                f"the same parameters ({', '.join(changed)} changed): give it again with --set",
            )
        for name in carried:
            try:
                values[name] = reseal(
                    values[name],
                    self.ring,
                    frm=(self.previous, key),
                    to=(self.execution, key),
                    param=name,
                )
            except SecretError as exc:
                raise OverrideError(f"overrides.{key}.{name}", exc.reason) from None


def _node(
    step: StepRow,
    key: str,
    codes: dict[int, str],
    params: ExecutionInput,
    earlier: dict[int, dict[str, Any]],
    carry: Carry | None = None,
) -> tuple[NodeSpec, dict[str, Any]]:
    """The node's spec and its row's values (id, execution and parent left to the caller)."""
    values: dict[str, Any] = {}
    pending: list[str] = []
    if step.type == StepType.PRE_PLAN_TEMPLATE:
        spec = NodeSpec(
            key=key,
            node_id=0,
            name=step.name,
            kind="SUB_PLAN",
            strategy=step.strategy.model_copy(),
            sub_plan=step.name,
        )
    else:
        code = codes[step.atom_id]
        action = ACTIONS_BY_CODE.get(code)
        if action is None:
            raise OverrideError(key, f"action {code} is not known to this server version")
        values = {
            **(step.execute_context or {}),
            **earlier.get(step.id, {}),
            **params.overrides.get(key, {}),
        }
        if carry is not None and step.id in earlier:
            carry.secrets(key, earlier[step.id], values)
        pending = [name for name in step.pending_params or [] if name not in values]
        plain = plaintext_secrets(values, secret_params(code))
        if plain:
            reason = "secret: give it sealed (nightwatch run --set seals it) or as env:NAME"
            raise OverrideError(f"overrides.{key}.{plain[0]}", reason + ", never in plain text")
        problems = check_parameters(action.params, values, may_be_missing=set(pending))
        if problems:
            listed = "; ".join(f"overrides.{key}.{p.field}: {p.reason}" for p in problems)
            raise OverrideError(f"node {key}", listed)
        spec = NodeSpec(
            key=key,
            node_id=0,
            name=step.name,
            kind="ACTION",
            action=code,
            activity=action.activity,
            params=values,
            pending=pending,
            secret_params=[i.name for i in action.param_infos if i.secret],
            strategy=step.strategy.model_copy(),
            max_attempts=action.max_attempts,
            timeout_seconds=action.timeout_minutes * 60,
        )
    row = {
        "step_id": step.id,
        "plan_id": step.plan_id,
        "name": step.name,
        "type": step.type,
        "atom_id": step.atom_id,
        "execute_order": step.execute_order,
        "state": NodeState.PENDING,
        "parameters": values,
        "strategy": step.execute_strategy,
        "pending_parameters": pending,
        "decisions": [],
    }
    return spec, row


def _all(nodes: list[NodeSpec]) -> list[NodeSpec]:
    return [n for node in nodes for n in (node, *node.children)]


def _check_overrides(params: ExecutionInput, nodes: list[NodeSpec]) -> None:
    known = {node.key for node in _all(nodes) if node.kind == "ACTION"}
    unknown = sorted(set(params.overrides) - known)
    if unknown:
        raise OverrideError(
            "overrides", f"no step with key {', '.join(unknown)} (keys: {', '.join(sorted(known))})"
        )


def _skip_before(nodes: list[NodeSpec], start: str) -> None:
    ordered = _all(nodes)
    keys = [node.key for node in ordered]
    if start not in keys:
        raise OverrideError("rerun_from", f"no node {start} (nodes: {', '.join(keys)})")
    for node in ordered[: keys.index(start)]:
        if node.kind == "ACTION":
            node.skip_reason = f"before the re-run point {start}"
