"""The one way to drive executions: start one, look it up, follow it, decide about it.

The CLI, the alert intake and the local stack's demo (and the APIs to come) call this;
nothing else talks to `PlanExecution` workflow handles. It owns the execution id format,
the start options (an id is never used twice: sealed secrets are bound to it), the live
view with running sub-plans merged in, and routing a decision about a sub-plan's node to
that sub-plan's child workflow.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities import creation
from activities.execution import registered_search_attributes
from catalog.registry import SECRET_PARAM_NAMES
from nightwatch.codec import KeyRing
from nightwatch.errors import NightwatchError, NotFound
from nightwatch.sealing import seal_values
from nightwatch.search_attributes import (
    ALERT_FINGERPRINT,
    EXECUTION_ID,
    PLAN_ID,
    PLAN_SCENE,
    TRIGGER_KIND,
)
from storage import executions
from storage.db import writer_engine
from workflows.execution import PlanExecutionWorkflow, child_workflow_id
from workflows.models import (
    AlertResolved,
    Decision,
    DecisionKind,
    ExecutionInput,
    ExecutionSnapshot,
    ExecutionView,
    Fill,
    NodeView,
)

# Rows of a start whose workflow did not follow within this long were left by a start that
# failed (the process died between the two): the next start of that id replaces them.
ORPHANED_AFTER = timedelta(minutes=2)
NOT_STARTED = "cannot start: "  # how the workflow says its execution could not be created
Handle = WorkflowHandle[PlanExecutionWorkflow, ExecutionView]
# A decision's kind -> the update that takes it (validated: the caller hears a refusal).
UPDATES: dict[DecisionKind, Any] = {
    DecisionKind.CONFIRM: PlanExecutionWorkflow.confirm,
    DecisionKind.REJECT: PlanExecutionWorkflow.reject,
    DecisionKind.SKIP: PlanExecutionWorkflow.skip,
    DecisionKind.RETRY: PlanExecutionWorkflow.retry,
    DecisionKind.DONE: PlanExecutionWorkflow.mark_done,
    DecisionKind.ABORT: PlanExecutionWorkflow.abort,
}


class ExecutionError(NightwatchError):
    """An execution cannot be started, found or acted on (the reason says why)."""


class ExecutionExists(ExecutionError):
    """The execution id is taken: by a running execution, or by one that ran before."""


class Refused(ExecutionError):
    """The execution refused a decision or a fill (who may act, what it waits for…)."""


class ExecutionNotFound(ExecutionError, NotFound):
    """No execution has this id (HTTP 404)."""


class InvalidFill(ExecutionError):
    """Filled-in values the action refuses, each named by its field (`values.<name>`)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(problems[0]["path"], problems[0]["reason"])
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": self.problems}


def field_problems(reason: str, fields: set[str]) -> list[dict[str, str]]:
    """`pods: Input should be ...; app: ...` (the workflow's refusal of a fill) as problems
    on the filled fields; [] when the refusal is not about the values."""
    problems = []
    for part in reason.split("; "):
        name, colon, why = part.partition(": ")
        if not colon or name not in fields:
            return []
        problems.append({"path": f"values.{name}", "reason": why})
    return problems


def seal_overrides(
    overrides: dict[str, dict[str, Any]], execution: str, ring: KeyRing | None, path: str
) -> dict[str, dict[str, Any]]:
    """Secret values among a start's or re-run's parameters sealed for this execution and
    node, before they reach Temporal (nightwatch/sealing.py)."""
    return {
        node: seal_parameters(values, execution, node, ring, f"{path}.{node}")
        for node, values in overrides.items()
    }


def seal_parameters(
    values: dict[str, Any], execution: str, node: str, ring: KeyRing | None, path: str
) -> dict[str, Any]:
    """Secret values among a node's parameters sealed for this execution and node."""
    return seal_values(
        values, set(SECRET_PARAM_NAMES), ring, path=path, execution=execution, node=node
    )


def _indexing(snapshot: ExecutionSnapshot, params: ExecutionInput) -> dict[str, Any]:
    """The search attributes and memo a created execution starts with (what the workflow
    sets itself when it creates its rows)."""
    values = {
        PLAN_ID: str(snapshot.plan_id),
        PLAN_SCENE: snapshot.scene,
        EXECUTION_ID: snapshot.execution_id,
        TRIGGER_KIND: params.trigger_kind,
    }
    fingerprint = params.trigger_details.get("fingerprint")
    if fingerprint:
        values[ALERT_FINGERPRINT] = str(fingerprint)
    pairs = [
        SearchAttributePair(key, value)
        for key, value in values.items()
        if key.name in snapshot.search_attributes
    ]
    return {
        "search_attributes": TypedSearchAttributes(pairs),
        "memo": {
            "plan": f"{snapshot.plan_name} v{snapshot.plan_version} ({snapshot.scene})",
            "triggered_by": f"{params.trigger_kind} {params.triggered_by}",
        },
    }


def new_execution_id(prefix: str = "exec") -> str:
    """`exec-20261203-093000-1a2b3c`: sortable by start, unique, free of secrets."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def rerun_id(execution: str) -> str:
    """The id of a re-run of `execution`: `<execution>-rerun-1a2b3c`."""
    return f"{execution}-rerun-{uuid.uuid4().hex[:6]}"


def check_id(execution: str) -> str:
    """An execution id as a person gave it, refused when blank."""
    if not execution.strip():
        raise ExecutionError("execution", "an execution id is required (`nightwatch list`)")
    return execution


class Executions:
    """Executions on one Temporal namespace and task queue.

    With `database_url`, a start creates the execution's rows itself before it starts the
    workflow (the API and the intake): bad input (an unknown plan, a parameter that does not
    fit) is refused before anything starts, the workflow gets its snapshot, search
    attributes and memo with its start, and the worker does no creation. Without it (and
    for starts from the Web UI's plain JSON) the workflow creates them in a local activity.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        database_url: str | None = None,
        ring: KeyRing | None = None,
    ) -> None:
        self.client, self.task_queue = client, task_queue
        self.database_url, self.ring = database_url, ring

    # -- starting ----------------------------------------------------------------------------

    async def start(self, params: ExecutionInput, execution_id: str | None = None) -> str:
        """Start an execution; its id (given, or made by `new_execution_id`). Raises
        ExecutionExists for an id that runs or ran already, the creation's own errors
        (PlanNotFound, OverrideError…) when the rows cannot be made; RPCError reaches the
        caller when Temporal is unreachable (the intake answers 503 then), and then no
        rows are left behind."""
        identifier = check_id(execution_id) if execution_id else new_execution_id()
        options: dict[str, Any] = {}
        created = self.database_url is not None and params.snapshot is None
        if created:
            snapshot = await self._create_rows(identifier, params)
            params = params.model_copy(update={"snapshot": snapshot})
            options = _indexing(snapshot, params)
        try:
            await self.client.start_workflow(
                PlanExecutionWorkflow.run,
                params,
                id=identifier,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # An execution id is never used twice (sealed secrets are bound to it).
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                rpc_timeout=timedelta(seconds=10),
                **options,
            )
        except WorkflowAlreadyStartedError:
            if created:
                await asyncio.to_thread(self._delete_rows, identifier)
            raise await self._taken(identifier) from None
        except BaseException as exc:
            # Rows no workflow will ever write are removed, so the start can be tried again
            # (an alert delivered again): when the request never reached Temporal, or
            # Temporal says there is no such workflow. Otherwise they stay, and a start of
            # this id after ORPHANED_AFTER replaces them.
            unreached = isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE
            if created and (unreached or not await self._exists(identifier)):
                await asyncio.to_thread(self._delete_rows, identifier)
            raise
        return identifier

    async def _create_rows(self, identifier: str, params: ExecutionInput) -> ExecutionSnapshot:
        """The execution's rows and snapshot; rows of an earlier start of this id whose
        workflow never started (it failed, nothing ran) are replaced."""
        indexed = await registered_search_attributes(self.client)
        try:
            snapshot = await asyncio.to_thread(self._insert, identifier, params)
        except IntegrityError:
            # Rows without a workflow: another start of this id in progress (young rows),
            # or one whose start failed long ago (replaced).
            if await self._exists(identifier) or not await asyncio.to_thread(
                self._delete_rows, identifier, ORPHANED_AFTER
            ):
                raise await self._taken(identifier) from None
            snapshot = await asyncio.to_thread(self._insert, identifier, params)
        return snapshot.model_copy(update={"search_attributes": indexed})

    def _insert(self, identifier: str, params: ExecutionInput) -> ExecutionSnapshot:
        assert self.database_url is not None
        with Session(writer_engine(self.database_url)) as session:
            return creation.create(session, identifier, params, ring=self.ring)

    def _delete_rows(self, identifier: str, older_than: timedelta = timedelta(0)) -> bool:
        """Remove the rows of an execution that never started; False if they remain (it
        had ended, or its rows are younger than `older_than`)."""
        assert self.database_url is not None
        with writer_engine(self.database_url).connect() as connection:
            executions.delete_unstarted(connection, identifier, older_than)
        with Session(writer_engine(self.database_url)) as session:
            return executions.by_execution_id(session, identifier) is None

    async def _taken(self, identifier: str) -> ExecutionExists:
        running = await self._runs(identifier)
        reason = (
            f"runs already (nightwatch status {identifier})"
            if running
            else "was used by an earlier execution; ids are never reused: choose another"
        )
        return ExecutionExists(f"execution {identifier}", reason)

    async def _exists(self, execution: str) -> bool:
        """Whether Temporal has a workflow with this id (True when it cannot tell)."""
        try:
            await self.client.get_workflow_handle(execution).describe(
                rpc_timeout=timedelta(seconds=10)
            )
        except RPCError as exc:
            return exc.status != RPCStatusCode.NOT_FOUND
        return True

    async def _runs(self, execution: str) -> bool:
        try:
            status = (await self.client.get_workflow_handle(execution).describe()).status
        except RPCError:
            return False
        return status == WorkflowExecutionStatus.RUNNING

    async def started(self, execution: str, within: float = 60) -> ExecutionView:
        """The view once the execution has its plan snapshot; ExecutionError with what was
        wrong (and no execution id: none was created) if it could not start."""
        return await self.until(
            execution, lambda v: v.plan_id != 0, "the execution to start", within=within
        )

    async def until(
        self,
        execution: str,
        done: Callable[[ExecutionView], bool],
        what: str,
        within: float = 60,
    ) -> ExecutionView:
        """Wait (bounded) until the live view satisfies `done`."""
        handle = self._handle(execution)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.FAILED:
                raise await self._why_failed(handle)
            view = await self.view(execution)
            if done(view):
                return view
            await asyncio.sleep(0.3)
        raise ExecutionError(execution, f"timed out waiting for {what}; is a worker running?")

    @staticmethod
    async def _why_failed(handle: Handle) -> ExecutionError:
        try:
            await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause or exc
            text = getattr(cause, "message", None) or str(cause)
            if text.startswith(NOT_STARTED):
                # Nothing ran and no execution exists: say what was wrong, not an id.
                path, _, reason = text.removeprefix(NOT_STARTED).partition(": ")
                return ExecutionError(path if reason else "run", reason or path)
            return ExecutionError(handle.id, text)
        return ExecutionError(handle.id, "failed")

    # -- looking ---------------------------------------------------------------------------

    async def view(self, execution: str) -> ExecutionView:
        """The execution's live state, with its running sub-plans' nodes merged in."""
        try:
            view: ExecutionView = await self._handle(execution).query(
                PlanExecutionWorkflow.get_state
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ExecutionNotFound(execution, "no such execution") from None
            raise ExecutionError(execution, f"cannot read the execution: {exc.message}") from None
        running = [n.key for n in view.nodes if n.kind == "SUB_PLAN" and n.state == "RUNNING"]
        for key in running:
            child: ExecutionView = await self.client.get_workflow_handle(
                child_workflow_id(execution, key)
            ).query(PlanExecutionWorkflow.get_state)
            fresh = {node.key: node for node in child.nodes}
            view.nodes = [fresh.get(node.key, node) for node in view.nodes]
            if child.waiting_for:
                view.waiting_for = "; ".join(filter(None, [view.waiting_for, child.waiting_for]))
        if view.waiting_for and view.state == "RUNNING":
            view.state = "WAITING"
        return view

    # -- acting ----------------------------------------------------------------------------

    async def decide(
        self, execution: str, kind: DecisionKind, decision: Decision
    ) -> NodeView | None:
        """Confirm, skip, retry, mark done or abort: the node's own workflow takes it (a
        sub-plan's child for its steps); Refused says why it was not taken."""
        result: NodeView | None = await self._update(
            execution, decision.node, UPDATES[kind], decision
        )
        return result

    async def fill(self, execution: str, fill: Fill) -> NodeView:
        """Fill in parameters a node waits for (checked by the workflow before history)."""
        result: NodeView = await self._update(
            execution, fill.node, PlanExecutionWorkflow.fill_parameters, fill
        )
        return result

    async def cancel(self, execution: str, reason: str = "") -> None:
        """Ask the execution to cancel; `reason` (who asked, how proven) is kept in its
        history's cancel request."""
        try:
            await self._handle(execution).cancel(reason=reason)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ExecutionNotFound(execution, "no such execution") from None
            raise ExecutionError(execution, exc.message) from None

    async def alert_resolved(self, execution: str, note: AlertResolved) -> bool:
        """Tell the execution its alert resolved; False if it has ended (no signal taken)."""
        try:
            await self._handle(execution).signal(
                PlanExecutionWorkflow.alert_resolved, note, rpc_timeout=timedelta(seconds=10)
            )
        except RPCError:
            return False
        return True

    async def _update(self, execution: str, node: str, update: Any, argument: Any) -> Any:
        try:
            return await self._handle(execution, node).execute_update(update, argument)
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause or exc)
            raise Refused(f"{execution} node {node}", reason) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ExecutionNotFound(execution, "no such execution") from None
            raise ExecutionError(execution, exc.message) from None

    def _handle(self, execution: str, node: str = "") -> Handle:
        """The workflow holding a node: a sub-plan's steps live in its child workflow."""
        check_id(execution)
        prefix, dot, _ = node.partition(".")
        target = child_workflow_id(execution, prefix) if dot else execution
        return self.client.get_workflow_handle(target)
