"""Bookkeeping of executions in PostgreSQL and the step activity that runs an action.

The workflow's state is the truth; these activities mirror it into the database. A step's
own activity records its node (no extra round trip per step), best effort: if the
database is down the step still runs, and the workflow's full view is written again at
every wait for a person and when the execution ends (retried until the database answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.actions import HANDLERS, ActionContext, handler_for
from activities.node_writer import NodeWriter
from catalog.actions import ACTIONS
from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE, secret_params
from nightwatch.codec import KeyRing
from nightwatch.errors import NightwatchError
from nightwatch.logs import bind_execution, get_logger
from nightwatch.sealing import SecretError, plaintext_secrets, reveal, reveal_env
from nightwatch.temporal import SEARCH_ATTRIBUTES
from plans import store
from plans.model import StepStrategy
from platforms.errors import PlatformError
from storage.db import session_factory
from storage.enums import ExecutionState, NodeState, StepType
from storage.models import Execution, ExecutionNode, PlanStep
from workflows.models import (
    ExecutionInput,
    ExecutionRecord,
    ExecutionSnapshot,
    NodeSpec,
    StepRequest,
    StepResult,
)

log = get_logger("nightwatch.activities.execution")
# Heartbeats are how a cancellation reaches a running step (timeout 10 s in the workflow).
HEARTBEAT_SECONDS = 2
# A step still running after this is recorded RUNNING; a quicker one is recorded once.
SLOW_STEP_SECONDS = 0.5


def _execution_id() -> str:
    """The workflow id of the running activity: the execution id."""
    return activity.info().workflow_id or "(no workflow)"


class ExecutionActivities:
    def __init__(self, database_url: str, ring: KeyRing | None = None) -> None:
        self._url = database_url
        self._ring = ring  # unseals secret parameters right before a step uses them
        self._nodes = NodeWriter(database_url)

    # -- start ---------------------------------------------------------------------------

    @activity.defn
    async def create_execution(self, params: ExecutionInput) -> ExecutionSnapshot:
        """Snapshot the plan and create the execution and its nodes (idempotent)."""
        snapshot = await asyncio.to_thread(self._create, _execution_id(), params)
        indexed = await registered_search_attributes(activity.client())
        return snapshot.model_copy(update={"search_attributes": indexed})

    def _create(self, execution_id: str, params: ExecutionInput) -> ExecutionSnapshot:
        bind_execution(execution_id)
        with session_factory(self._url)() as session:
            try:
                snapshot = _create(session, execution_id, params)
                session.commit()
            except NightwatchError as exc:
                raise ApplicationError(
                    str(exc), type=type(exc).__name__, non_retryable=True
                ) from None
            except IntegrityError:
                # A retry of a creation that committed (its answer was lost): the row exists.
                session.rollback()
                existing = session.scalar(
                    select(Execution).where(Execution.execution_id == execution_id)
                )
                if existing is None:
                    raise
                return ExecutionSnapshot.model_validate(existing.plan_snapshot["snapshot"])
        log.info("execution created", plan=snapshot.plan_name, nodes=len(snapshot.nodes))
        return snapshot

    # -- steps ---------------------------------------------------------------------------

    def step_activities(self) -> list[Callable[..., Awaitable[StepResult]]]:
        """One activity per action, named as the catalog says (`APP_SCALE_OUT` runs as
        `scale_out`), so histories and the Web UI show which action a step ran."""
        names = sorted({spec.activity for spec in ACTIONS if spec.code in HANDLERS})
        return [self._step_activity(name) for name in names]

    def _step_activity(self, name: str) -> Callable[..., Awaitable[StepResult]]:
        async def step(request: StepRequest) -> StepResult:
            return await self.run_step(request)

        step.__doc__ = f"Runs a step whose action's activity is {name}."
        return activity.defn(name=name)(step)

    async def run_step(self, request: StepRequest) -> StepResult:
        """Run one action and record its node: once for a quick step, RUNNING first for a
        slow one (write-behind, best effort; the workflow's final record is authoritative).
        A long action's progress is heartbeated and handed back to the next attempt."""
        info = activity.info()
        bind_execution(_execution_id())
        started = datetime.now(UTC)
        resumed = info.heartbeat_details[0] if info.heartbeat_details else None
        context = ActionContext(
            self._url,
            _execution_id(),
            request.attempt_note or "",
            round_=request.round,
            resumed=resumed if isinstance(resumed, dict) else None,
            on_progress=lambda details: self._mark_later(
                request.node_id, output={"progress": details}
            ),
        )
        if context.resumed:
            log.info("step resumed from its last heartbeat", node=request.attempt_note,
                     attempt=info.attempt, progress=context.resumed)  # fmt: skip
        try:
            params = reveal_env(
                reveal(request.params, self._ring, path=f"node {request.attempt_note}"),
                secret_params(request.action),
                path=f"node {request.attempt_note}",
            )
        except SecretError as exc:
            self._mark_later(request.node_id, error=str(exc), attempts=info.attempt)
            raise ApplicationError(str(exc), type="SecretError", non_retryable=True) from None
        work = asyncio.ensure_future(handler_for(request.action)(params, context))
        try:
            await asyncio.wait({work}, timeout=SLOW_STEP_SECONDS)
            if not work.done():
                self._mark_later(
                    request.node_id,
                    state=NodeState.RUNNING,
                    attempts=info.attempt,
                    started_at=started,
                )
            while not work.done():
                # Always with the latest progress: a bare heartbeat would erase it.
                activity.heartbeat(*([context.details] if context.details else []))
                await asyncio.wait({work}, timeout=HEARTBEAT_SECONDS)
            output = work.result()
        except asyncio.CancelledError:
            work.cancel()
            await self._note_cancelled(request.node_id, context)
            raise
        except PlatformError as exc:
            self._mark_later(
                request.node_id, error=str(exc), attempts=info.attempt, started_at=started
            )
            raise ApplicationError(
                str(exc), type="PlatformError", non_retryable=not exc.retryable
            ) from None
        self._mark_later(
            request.node_id,
            state=NodeState.SUCCEEDED,
            attempts=info.attempt,
            output=output,
            error=None,
            started_at=started,
            ended_at=datetime.now(UTC),
        )
        return StepResult(output=output)

    async def _note_cancelled(self, node_id: int, context: ActionContext) -> None:
        """Leave on the node where a cancelled step stopped (the final record keeps it)."""
        if not context.details:
            return
        note = "cancelled during this step: the platform was left as `progress` says"
        self._nodes.put(node_id, output={"cancelled": True, "note": note,
                                         "progress": context.details})  # fmt: skip
        try:
            await asyncio.wait_for(self._nodes.drain(), timeout=5)
        except TimeoutError:
            log.warning("cancelled step's progress not recorded in time", node_id=node_id)

    def _mark_later(self, node_id: int, **values: Any) -> None:
        """Record a node without holding up the step (see activities/node_writer.py)."""
        self._nodes.put(node_id, **values)

    # -- the workflow's view -------------------------------------------------------------

    @activity.defn
    def record_execution(self, record: ExecutionRecord) -> None:
        """Write the workflow's view of the execution and every node (idempotent)."""
        with session_factory(self._url)() as session:
            # Locked first, like the node writer does: no node write lands after the end.
            execution = session.get(Execution, record.execution_row, with_for_update=True)
            if execution is None:
                raise ApplicationError(
                    f"no execution row {record.execution_row}", non_retryable=True
                )
            if execution.ended_at is not None:
                return  # ended executions are immutable
            rows = [
                {
                    "id": node.node_id,
                    "state": node.state,
                    "parameters": node.params,
                    "pending_parameters": node.pending,
                    "decisions": [d.model_dump(mode="json") for d in node.decisions],
                    "attempts": node.attempts,
                    "error": node.error,
                    "started_at": node.started_at,
                    "ended_at": node.ended_at,
                    # An output only the step's activity knows (where a cancelled step
                    # stopped) is kept: the workflow writes outputs it has.
                    **({"output": node.output} if node.output is not None else {}),
                }
                for node in record.nodes
            ]
            if rows:
                session.execute(update(ExecutionNode), rows)
            if record.state is not None:
                execution.state, execution.error = record.state, record.error
            if record.ended:
                execution.ended_at = datetime.now(UTC)
            session.commit()

    @activity.defn
    async def send_reminder(self, message: str) -> bool:
        """Post a reminder to every notification channel (best effort)."""
        context = ActionContext(self._url, _execution_id(), "reminder")
        try:
            hooks = await context.config("notification.webhooks")
        except PlatformError:
            log.warning("reminder not sent: no notification channel configured", text=message)
            return False
        handler = handler_for("NOTIFY")
        for hook in hooks:
            try:
                await handler({"channel": hook["name"], "message": message}, context)
            except PlatformError as exc:
                log.warning("reminder not delivered", channel=hook["name"], error=str(exc))
        return True


_REGISTERED: dict[tuple[str, str], list[str]] = {}


async def registered_search_attributes(client: Client) -> list[str]:
    """Which of our search attributes the namespace has (asked once per server and namespace).

    An execution indexes itself only under these, so a namespace where someone forgot to
    register them runs executions unindexed (with a warning) instead of failing them.
    """
    key = (client.service_client.config.target_host, client.namespace)
    if key not in _REGISTERED:
        try:
            response = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
            found = set(response.custom_attributes)
        except RPCError as exc:
            log.warning("cannot list search attributes; executions are not indexed", error=str(exc))
            found = set()
        _REGISTERED[key] = [sa.name for sa in SEARCH_ATTRIBUTES if sa.name in found]
        missing = [sa.name for sa in SEARCH_ATTRIBUTES if sa.name not in found]
        if missing:
            log.warning("search attributes missing: run `nightwatch temporal "
                        "register-search-attributes`", missing=missing)  # fmt: skip
    return _REGISTERED[key]


# -- building the snapshot ---------------------------------------------------------------


class OverrideError(NightwatchError):
    pass


def _create(session: Session, execution_id: str, params: ExecutionInput) -> ExecutionSnapshot:
    previous = None
    if params.rerun_of:
        previous = session.scalar(
            select(Execution).where(Execution.execution_id == params.rerun_of)
        )
        if previous is None:
            raise OverrideError("rerun_of", f"no execution {params.rerun_of}")
        plan = store.main_plan(session, previous.plan_id)
    else:
        plan = store.main_plan(session, params.plan)
    execution = Execution(
        execution_id=execution_id, plan_id=plan.id, plan_version=plan.version, plan_snapshot={},
        state=ExecutionState.RUNNING, trigger_kind=params.trigger_kind,
        triggered_by=params.triggered_by, overrides=params.overrides,
        rerun_of_id=previous.id if previous else None, rerun_from_node=params.rerun_from,
        started_at=datetime.now(UTC),
    )  # fmt: skip
    session.add(execution)
    session.flush()
    earlier = _effective_params(session, previous.id) if previous else {}
    tree = store.step_tree(session, plan.id)
    codes = _action_codes(session, tree)

    def node(step: PlanStep, key: str) -> tuple[NodeSpec, ExecutionNode]:
        return _node(execution.id, step, key, codes, params, earlier)

    # Two batched inserts: the top-level nodes, then the sub-plans' steps (they need the
    # ids of their parents).
    top = [
        node(step, step.name if children is not None else str(step.execute_order))
        for step, children in tree
    ]
    session.add_all([row for _, row in top])
    session.flush()
    nested: list[tuple[NodeSpec, NodeSpec, ExecutionNode]] = []
    for (spec, row), (template, children) in zip(top, tree, strict=True):
        spec.node_id = row.id
        for step in children or []:
            child, child_row = node(step, f"{template.name}.{step.execute_order}")
            child_row.parent_node_id = row.id
            nested.append((spec, child, child_row))
    session.add_all([row for _, _, row in nested])
    session.flush()
    for parent, child, row in nested:
        child.node_id = row.id
        parent.children.append(child)
    nodes = [spec for spec, _ in top]
    _check_overrides(params, nodes)
    if params.rerun_from:
        _skip_before(nodes, params.rerun_from)
    snapshot = ExecutionSnapshot(
        execution_id=execution_id, execution_row=execution.id, plan_id=plan.id,
        plan_name=plan.name, plan_version=plan.version, scene=plan.scene, nodes=nodes,
    )  # fmt: skip
    execution.plan_snapshot = {
        "document": store.document(session, plan, tree, codes).model_dump(mode="json"),
        "snapshot": snapshot.model_dump(mode="json"),
    }
    return snapshot


# Action code by catalog row id, per database: ids are never reused (retired, not deleted).
_CODES: dict[str, dict[int, str]] = {}


def _action_codes(
    session: Session, tree: list[tuple[PlanStep, list[PlanStep] | None]]
) -> dict[int, str]:
    """The catalog's codes, read again only when a plan uses an action not seen yet."""
    used = {
        step.atom_id
        for top, children in tree
        for step in (top, *(children or []))
        if step.type != StepType.PRE_PLAN_TEMPLATE
    }
    known = _CODES.setdefault(str(session.get_bind().engine.url), {})
    if not used <= known.keys():
        known.update(store.action_codes(session))
    return known


def _effective_params(session: Session, execution_row: int) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(ExecutionNode.step_id, ExecutionNode.parameters).where(
            ExecutionNode.execute_order_id == execution_row
        )
    )
    return {step_id: parameters for step_id, parameters in rows}


def _node(
    execution_row: int,
    step: PlanStep,
    key: str,
    codes: dict[int, str],
    params: ExecutionInput,
    earlier: dict[int, dict[str, Any]],
) -> tuple[NodeSpec, ExecutionNode]:
    """The node's spec and its row (not yet flushed: the caller batches the inserts)."""
    strategy = StepStrategy.model_validate(step.execute_strategy)
    values: dict[str, Any] = {}
    pending: list[str] = []
    if step.type == StepType.PRE_PLAN_TEMPLATE:
        spec = NodeSpec(
            key=key,
            node_id=0,
            name=step.name,
            kind="SUB_PLAN",
            strategy=strategy,
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
            strategy=strategy,
            max_attempts=action.max_attempts,
            timeout_seconds=action.timeout_minutes * 60,
        )
    row = ExecutionNode(
        execute_order_id=execution_row,
        step_id=step.id,
        plan_id=step.plan_id,
        name=step.name,
        type=step.type,
        atom_id=step.atom_id,
        execute_order=step.execute_order,
        state=NodeState.PENDING,
        parameters=values,
        strategy=step.execute_strategy,
        pending_parameters=pending,
        decisions=[],
    )
    return spec, row


def _all(nodes: list[NodeSpec]) -> list[NodeSpec]:
    return [n for node in nodes for n in (node, *node.children)]


def _check_overrides(params: ExecutionInput, nodes: list[NodeSpec]) -> None:
    known = {node.key for node in _all(nodes) if node.kind == "ACTION"}
    unknown = sorted(set(params.overrides) - known)
    if unknown:
        raise OverrideError("overrides", f"no step with key {', '.join(unknown)} "
                            f"(keys: {', '.join(sorted(known))})")  # fmt: skip


def _skip_before(nodes: list[NodeSpec], start: str) -> None:
    ordered = _all(nodes)
    keys = [node.key for node in ordered]
    if start not in keys:
        raise OverrideError("rerun_from", f"no node {start} (nodes: {', '.join(keys)})")
    for node in ordered[: keys.index(start)]:
        if node.kind == "ACTION":
            node.skip_reason = f"before the re-run point {start}"
