"""The plan execution: one workflow per run of a plan, and per disaster-recovery sub-plan.

Steps run in order as activities (WAIT is a durable timer, MANUAL_STEP a wait for a
person); each disaster-recovery sub-plan is a child workflow of this same type, run in
the fixed order switch -> recovery -> traffic-back, each after a person confirms it.
People confirm, skip, retry, mark done, abort and fill in parameters through updates
(validated: the caller hears what is wrong) or the `decide` / `fill` signals (Web UI).
The workflow's state is the truth; the database mirrors it at every wait and at the end.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    is_cancelled_exception,
)
from temporalio.exceptions import (
    TimeoutError as ActivityTimeout,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    # `import workflows.people`, not `from workflows import people`: the sandbox would
    # run that module again for every execution.
    import workflows.people as people
    from nightwatch.masking import masked
    from nightwatch.search_attributes import (
        ALERT_FINGERPRINT,
        EXECUTION_ID,
        PLAN_ID,
        PLAN_SCENE,
        TRIGGER_KIND,
    )
    from storage.enums import ExecutionState, NodeState
    from workflows.models import (
        DATABASE_UNAVAILABLE,
        TERMINAL_NODE_STATES,
        AlertResolved,
        Decision,
        DecisionKind,
        DecisionRecord,
        ExecutionInput,
        ExecutionRecord,
        ExecutionSnapshot,
        ExecutionView,
        Fill,
        NodeRecord,
        NodeSpec,
        NodeView,
        StepRequest,
        StepResult,
        site_queue,
    )

K = DecisionKind
# The bookkeeping activities, by name (activities/execution.py): workflow code imports
# no activity module, so none of their I/O libraries come along.
CREATE_EXECUTION, RECORD_EXECUTION, SEND_REMINDER = (
    "create_execution",
    "record_execution",
    "send_reminder",
)
# Patch ids (workflow.patched): each marks a change that running executions must not see.
PLAN_MEMO_PATCH = "plan-memo"
# A `fill` signal is decided from its history alone (who may act included), not from this
# release's catalog: docs/replay.md.
SIGNAL_FILL_PATCH = "signal-fill-as-recorded"
# A step's activity is named by its node, action and round ("2 CHECKPOINT #1") for the Web
# UI, instead of a summary payload per activity (docs/performance.md).
STEP_IDS_PATCH = "step-activity-ids"
BOOKKEEPING = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200))
# An unreachable database never fails an execution: its bookkeeping (creation, the record
# at each wait, the final record) waits on durable timers, backing off to one try a minute
# (about 6 history events a try), for as long as an operator could take to bring the
# database back. Queries answer all the while. Only an error that can never succeed (bad
# data) is final.
DATABASE_PATIENCE = timedelta(hours=24)
FIRST_PAUSE, LONGEST_PAUSE = timedelta(seconds=1), timedelta(minutes=1)


class Aborted(Exception):
    """A person aborted the execution (or a step's strategy did)."""


class Stopped(Exception):
    """The execution stops as failed (a confirmation timed out with onTimeout FAIL)."""


@workflow.defn(name="PlanExecution")
class PlanExecutionWorkflow:
    @workflow.init
    def __init__(self, params: ExecutionInput) -> None:
        self.params = params
        self.snapshot: ExecutionSnapshot | None = None
        self.specs: dict[str, NodeSpec] = {}
        self.views: dict[str, NodeView] = {}
        self.waits: dict[str, people.Wait] = {}
        self.state: str = ExecutionState.PENDING
        self.error: str | None = None
        self.aborted_by: Decision | None = None
        self.alert_resolved_at: datetime | None = None
        self.catching_up = False  # a record at a wait is retried until the database answers
        self.finishing = False  # the final record has begun: the catching up stops
        self._catcher: asyncio.Task[None] | None = None
        self.signal_filled: set[str] = set()  # nodes whose values a `fill` signal brought
        # The end as the last step recorded it (None: the workflow records the end itself).
        self.ended_by_step: ExecutionRecord | None = None
        self.named_steps: bool | None = None  # STEP_IDS_PATCH, asked at the first step

    # -- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, params: ExecutionInput) -> ExecutionView:
        snapshot = params.snapshot or await self._create()
        self._load(snapshot)
        self.state = ExecutionState.RUNNING
        try:
            for spec in self._scope():
                if self.aborted_by is not None:
                    raise Aborted(self._abort_text())
                if spec.kind == "SUB_PLAN":
                    await self._run_sub_plan(spec)
                else:
                    await self._run_action(spec)
            failed = any(v.state == NodeState.FAILED for v in self.views.values())
            self.state = ExecutionState.FAILED if failed else ExecutionState.SUCCEEDED
        except Aborted as exc:
            self._close(ExecutionState.ABORTED, NodeState.ABORTED, str(exc))
        except Stopped as exc:
            self._close(ExecutionState.FAILED, NodeState.ABORTED, str(exc))
        except asyncio.CancelledError:
            self._close(ExecutionState.CANCELLED, NodeState.CANCELLED, "cancelled")
            await self._record(final=True)
            raise
        await self._record(final=True)
        workflow.set_current_details(f"Ended: {self.state}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    async def _create(self) -> ExecutionSnapshot:
        try:
            snapshot: ExecutionSnapshot = await self._until_written(
                CREATE_EXECUTION, self.params, timedelta(seconds=60), ExecutionSnapshot
            )
        except FailureError as exc:
            cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
            reason = cause.message if isinstance(cause, FailureError) else _cause(exc)
            raise ApplicationError(f"cannot start: {reason}", non_retryable=True) from None
        values = {
            PLAN_ID: str(snapshot.plan_id),
            PLAN_SCENE: snapshot.scene,
            EXECUTION_ID: snapshot.execution_id,
            TRIGGER_KIND: self.params.trigger_kind,
        }
        fingerprint = self.params.trigger_details.get("fingerprint")
        if fingerprint:
            values[ALERT_FINGERPRINT] = str(fingerprint)
        updates = [
            k.value_set(v) for k, v in values.items() if k.name in snapshot.search_attributes
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
        if workflow.patched(PLAN_MEMO_PATCH):
            # Added after 0.1 (docs/replay.md): the Web UI shows which plan ran and who
            # started it. Executions started before replay without this command.
            workflow.upsert_memo(
                {
                    "plan": f"{snapshot.plan_name} v{snapshot.plan_version} ({snapshot.scene})",
                    "triggered_by": f"{self.params.trigger_kind} {self.params.triggered_by}",
                }
            )
        return snapshot

    def _load(self, snapshot: ExecutionSnapshot) -> None:
        self.snapshot = snapshot
        for node in snapshot.nodes:
            for spec in (node, *node.children):
                self.specs[spec.key] = spec
                self.views[spec.key] = NodeView(
                    key=spec.key,
                    name=spec.name,
                    kind=spec.kind,
                    action=spec.action,
                    state=NodeState.PENDING,
                    params=_masked(spec),
                    missing=list(spec.pending),
                    may_act=people.may_act(spec),
                )

    def _scope(self) -> list[NodeSpec]:
        assert self.snapshot is not None
        if self.params.sub_plan is None:
            return self.snapshot.nodes
        parent = self.specs[self.params.sub_plan]
        return parent.children

    # -- nodes -------------------------------------------------------------------------------

    async def _run_action(self, spec: NodeSpec) -> None:
        view = self.views[spec.key]
        if spec.skip_reason:
            return self._end(view, NodeState.SKIPPED, note=spec.skip_reason)
        strategy = spec.strategy
        # Parameters first: whoever confirms sees the values the step will run with.
        if view.missing and await self._wait(spec, people.PARAMETERS, {K.SKIP, K.ABORT}) == K.SKIP:
            return self._end(view, NodeState.SKIPPED)
        if not await self._confirmed(spec):
            return self._end(view, NodeState.SKIPPED)
        if spec.action == "MANUAL_STEP":
            allowed = {K.DONE, K.CONFIRM, K.SKIP, K.ABORT}
            outcome = await self._wait(spec, people.MANUAL_WORK, allowed)
            return self._end(view, NodeState.SKIPPED if outcome == K.SKIP else NodeState.SUCCEEDED)
        while True:
            view.state, view.attempts = NodeState.RUNNING, view.attempts + 1
            view.started_at = view.started_at or workflow.now()
            self._details()
            try:
                view.output = await self._execute(spec)
                return self._end(view, NodeState.SUCCEEDED)
            except ActivityError as exc:
                if is_cancelled_exception(exc):
                    raise asyncio.CancelledError from exc  # the execution is being cancelled
                view.error = _cause(exc)
            if strategy.on_failure == "CONTINUE":
                return self._end(view, NodeState.FAILED)
            if strategy.on_failure == "ABORT":
                self._end(view, NodeState.FAILED)
                raise Aborted(f"step {spec.key} failed: {view.error}")
            outcome = await self._wait(
                spec, people.AFTER_FAILURE, {K.RETRY, K.SKIP, K.DONE, K.ABORT}
            )
            if outcome == K.SKIP:
                return self._end(view, NodeState.SKIPPED)
            if outcome == K.DONE:
                return self._end(view, NodeState.DONE_BY_HAND)

    async def _confirmed(self, spec: NodeSpec) -> bool:
        """False when a person skips the node at its confirmation (if it has one)."""
        if not spec.strategy.pre_confirm:
            return True
        outcome = await self._wait(spec, people.CONFIRMATION, {K.CONFIRM, K.SKIP, K.ABORT})
        return outcome != K.SKIP

    async def _execute(self, spec: NodeSpec) -> dict[str, object]:
        view = self.views[spec.key]
        if spec.action == "WAIT":
            seconds = int(view.params.get("seconds", spec.params["seconds"]))
            await workflow.sleep(timedelta(seconds=seconds))
            return {"waited_seconds": seconds}
        assert self.snapshot is not None and spec.action is not None and spec.activity
        params = _effective_params(spec, view)
        finish = self._finish_record(spec)
        if self.named_steps is None:
            self.named_steps = workflow.patched(STEP_IDS_PATCH)
        result: StepResult = await workflow.execute_activity(
            spec.activity,
            StepRequest(
                execution_row=self.snapshot.execution_row,
                node_id=spec.node_id,
                action=spec.action,
                params=params,
                attempt_note=spec.key,
                execution_id=self.snapshot.execution_id,
                check_params=spec.key in self.signal_filled,
                round=view.attempts,
                finish=finish,
            ),
            result_type=StepResult,
            start_to_close_timeout=timedelta(seconds=spec.timeout_seconds),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                maximum_attempts=spec.max_attempts, maximum_interval=timedelta(seconds=30)
            ),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            activity_id=f"{spec.key} {spec.action} #{view.attempts}" if self.named_steps else None,
            # A step that names a data centre runs on that site's workers only.
            task_queue=site_queue(workflow.info().task_queue, spec.strategy.site),
        )
        if result.recorded:
            self.ended_by_step = finish
        return result.output

    def _finish_record(self, spec: NodeSpec) -> ExecutionRecord | None:
        """The execution's final record should `spec` succeed, for its step to write, when
        nothing but that step's success is left to decide the end: the plan's last step (not
        in a sub-plan), nothing failed, nobody waited on, the database caught up.

        No patch guards this: whether the workflow records the end itself follows from the
        step's result in the history (`recorded`), which a step of an older release never
        set, so older histories replay their own record of the end (docs/replay.md)."""
        if (
            self.params.sub_plan is not None
            or spec is not self._scope()[-1]
            or self.waits
            or self.catching_up
            or self.aborted_by is not None
            or any(v.state == NodeState.FAILED for v in self.views.values())
        ):
            return None
        record = self._record_now(True)
        record.state = ExecutionState.SUCCEEDED
        for node in record.nodes:
            if node.node_id == spec.node_id:
                node.state = NodeState.SUCCEEDED  # its output and end time: the step's own
        return record

    async def _run_sub_plan(self, spec: NodeSpec) -> None:
        view = self.views[spec.key]
        if not await self._confirmed(spec):
            for child in spec.children:
                self._end(self.views[child.key], NodeState.SKIPPED, note="sub-plan skipped")
            return self._end(view, NodeState.SKIPPED)
        assert self.snapshot is not None
        view.state, view.started_at = NodeState.RUNNING, workflow.now()
        self._details()
        child_input = self.params.model_copy(
            update={"snapshot": self.snapshot, "sub_plan": spec.key}
        )
        try:
            result = await workflow.execute_child_workflow(
                PlanExecutionWorkflow.run,
                child_input,
                id=child_workflow_id(self.snapshot.execution_id, spec.key),
            )
        except ChildWorkflowError as exc:
            self._end(view, NodeState.FAILED, note=str(exc.cause or exc))
            raise Stopped(f"sub-plan {spec.key} failed: {exc.cause or exc}") from None
        for child_view in result.nodes:
            self.views[child_view.key] = child_view
        if result.state == ExecutionState.ABORTED:
            self._end(view, NodeState.ABORTED)
            raise Aborted(f"sub-plan {spec.key} was aborted")
        self._end(
            view, NodeState.FAILED if result.state == ExecutionState.FAILED else NodeState.SUCCEEDED
        )
        if result.state == ExecutionState.FAILED:
            raise Stopped(f"sub-plan {spec.key} failed")

    def _end(self, view: NodeView, state: NodeState, note: str | None = None) -> None:
        view.state, view.ended_at, view.waiting_for = state, workflow.now(), None
        if note:
            view.decisions.append(
                DecisionRecord(action=state, user="nightwatch", at=workflow.now(), comment=note)
            )
        self._details()

    def _close(self, state: str, pending_state: NodeState, reason: str) -> None:
        self.state, self.error = state, reason
        for key in self._owned_keys():
            view = self.views[key]
            if view.state not in TERMINAL_NODE_STATES:
                self._end(view, pending_state)

    def _owned_keys(self) -> list[str]:
        """Nodes this workflow writes: its scope (a child's sub-plan, or the whole plan)."""
        return [
            key for spec in self._scope() for key in (spec.key, *[c.key for c in spec.children])
        ]

    # -- waiting for people ------------------------------------------------------------------

    async def _wait(self, spec: NodeSpec, reason: str, allowed: set[DecisionKind]) -> DecisionKind:
        view = self.views[spec.key]
        approvals = (
            spec.strategy.approvals if reason in (people.CONFIRMATION, people.MANUAL_WORK) else 1
        )
        wait = people.Wait(reason=reason, allowed=allowed, approvals_needed=approvals)
        self.waits[spec.key] = wait
        view.state = {
            people.PARAMETERS: NodeState.WAITING_PARAMETERS,
            people.AFTER_FAILURE: NodeState.FAILED_WAITING,
        }.get(reason, NodeState.WAITING_CONFIRMATION)
        view.waiting_for = (
            reason if reason != people.PARAMETERS else f"parameters {', '.join(view.missing)}"
        )
        self._details()
        await self._record()
        timeout = spec.strategy.timeout_seconds if reason != people.AFTER_FAILURE else 0
        try:
            if not await self._wait_until_decided(spec, wait, timeout):
                return self._timed_out(spec, reason, timeout)
        finally:
            del self.waits[spec.key]
            view.waiting_for = None
        if self.aborted_by is not None or wait.outcome == K.ABORT:
            raise Aborted(self._abort_text())
        assert wait.outcome is not None
        return wait.outcome

    async def _wait_until_decided(self, spec: NodeSpec, wait: people.Wait, limit: int) -> bool:
        def decided() -> bool:
            return wait.outcome is not None or self.aborted_by is not None

        if limit <= 0:
            await workflow.wait_condition(decided)
            return True
        reminder = spec.strategy.reminder_seconds
        first = limit - reminder if 0 < reminder < limit else limit
        try:
            await workflow.wait_condition(decided, timeout=timedelta(seconds=first))
            return True
        except TimeoutError:
            if first == limit:
                return False
        await self._remind(spec, reminder)
        try:
            await workflow.wait_condition(decided, timeout=timedelta(seconds=limit - first))
        except TimeoutError:
            return False
        return True

    def _timed_out(self, spec: NodeSpec, reason: str, timeout: int) -> DecisionKind:
        view = self.views[spec.key]
        note = f"no {reason} within {timeout}s; onTimeout {spec.strategy.on_timeout}"
        if spec.strategy.on_timeout == "SKIP":
            view.decisions.append(
                DecisionRecord(action="TIMEOUT", user="nightwatch", at=workflow.now(), comment=note)
            )
            return K.SKIP
        self._end(view, NodeState.FAILED, note=note)
        if spec.strategy.on_timeout == "ABORT":
            raise Aborted(f"step {spec.key}: {note}")
        raise Stopped(f"step {spec.key}: {note}")

    async def _remind(self, spec: NodeSpec, seconds_left: int) -> None:
        assert self.snapshot is not None
        text = (
            f"Nightwatch: execution {self.snapshot.execution_id} ({self.snapshot.plan_name}) "
            f"waits for {self.views[spec.key].waiting_for} at step {spec.key} "
            f"'{spec.name}'; {seconds_left}s left. May act: {', '.join(people.may_act(spec))}"
        )
        self.views[spec.key].decisions.append(
            DecisionRecord(action="REMINDER", user="nightwatch", at=workflow.now(), comment=text)
        )
        try:
            await workflow.execute_activity(
                SEND_REMINDER,
                text,
                result_type=bool,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=BOOKKEEPING,
            )
        except ActivityError:
            workflow.logger.warning("reminder could not be sent", extra={"node": spec.key})

    def _abort_text(self) -> str:
        by = self.aborted_by
        if by is None:
            return "aborted"
        done = "rejected" if by.action == K.REJECT else "aborted"
        return f"{done} by {by.user}" + (f": {by.comment}" if by.comment else "")

    # -- handlers ------------------------------------------------------------------------------

    def _refusal(self, decision: Decision, kind: DecisionKind) -> str | None:
        if self.snapshot is None:
            return "the execution is starting; try again in a moment"
        decision = decision.model_copy(update={"action": kind})
        return people.refusal(
            decision,
            self.specs.get(decision.node),
            self.waits.get(decision.node),
            started_by=self.params.triggered_by if self.snapshot.four_eyes else None,
        )

    def _apply(self, decision: Decision, kind: DecisionKind) -> NodeView | None:
        decision = decision.model_copy(update={"action": kind})
        record = DecisionRecord(
            action=kind,
            user=decision.user,
            at=workflow.now(),
            comment=decision.comment,
            details=_who(decision.roles, decision.groups, decision.proven_by),
        )
        if kind in (K.ABORT, K.REJECT):
            self.aborted_by = decision
        view = self.views.get(decision.node)
        wait = self.waits.get(decision.node)
        if view is not None:
            view.decisions.append(record)
        if wait is not None and kind not in (K.ABORT, K.REJECT):
            people.apply_decision(decision, wait)
            if view is not None:
                view.approvals = list(wait.approvals)
        self._details()
        return view

    def _validate(self, decision: Decision, kind: DecisionKind) -> None:
        reason = self._refusal(decision, kind)
        if reason:
            raise ValueError(reason)

    @workflow.update(
        description="Confirm a step or sub-plan waiting for confirmation (or manual work done)."
    )
    def confirm(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.CONFIRM)

    @confirm.validator
    def _confirm_valid(self, decision: Decision) -> None:
        self._validate(decision, K.CONFIRM)

    @workflow.update(
        description="Reject a step waiting for confirmation: the execution stops there."
    )
    def reject(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.REJECT)

    @reject.validator
    def _reject_valid(self, decision: Decision) -> None:
        self._validate(decision, K.REJECT)

    @workflow.update(description="Skip a waiting or failed step; the execution goes on.")
    def skip(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.SKIP)

    @skip.validator
    def _skip_valid(self, decision: Decision) -> None:
        self._validate(decision, K.SKIP)

    @workflow.update(description="Run a failed step again.")
    def retry(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.RETRY)

    @retry.validator
    def _retry_valid(self, decision: Decision) -> None:
        self._validate(decision, K.RETRY)

    @workflow.update(
        description="Mark a failed or waiting step as done by hand (fixed outside), with a comment."
    )
    def mark_done(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.DONE)

    @mark_done.validator
    def _done_valid(self, decision: Decision) -> None:
        self._validate(decision, K.DONE)
        if not (decision.comment or "").strip():
            raise ValueError("marking a step done by hand needs a comment saying what was done")

    @workflow.update(description="Abort the execution (node '*' or the waiting node).")
    def abort(self, decision: Decision) -> NodeView | None:
        return self._apply(decision, K.ABORT)

    @abort.validator
    def _abort_valid(self, decision: Decision) -> None:
        self._validate(decision, K.ABORT)

    @workflow.update(
        description="Fill in parameters a step waits for; each is checked against the action."
    )
    def fill_parameters(self, fill: Fill) -> NodeView | None:
        return self._fill(fill)

    @fill_parameters.validator
    def _fill_valid(self, fill: Fill) -> None:
        reason = self._fill_refusal(fill)
        if reason:
            raise ValueError(reason)

    def _fill_refusal(self, fill: Fill, *, signal: bool = False) -> str | None:
        """Why a fill is refused. The update's validator checks everything, the catalog
        included; a signal's handler only what its history decides (see people.py), and
        histories from before that rule replay with the rule they were written under."""
        if self.snapshot is None:
            return "the execution is starting; try again in a moment"
        as_recorded = signal and workflow.patched(SIGNAL_FILL_PATCH)
        return people.fill_refusal(
            fill,
            self.specs.get(fill.node),
            self.views.get(fill.node),
            self.waits.get(fill.node),
            catalog=not as_recorded,
            may_act=as_recorded or not signal,
        )

    def _fill(self, fill: Fill) -> NodeView | None:
        view = self.views[fill.node]
        view.params.update(fill.values)
        view.missing = [name for name in view.missing if name not in fill.values]
        view.decisions.append(
            DecisionRecord(
                action="FILL",
                user=fill.user,
                at=workflow.now(),
                comment=fill.comment,
                details={
                    "filled": sorted(fill.values),
                    **_who(fill.roles, fill.groups, fill.proven_by),
                },
            )
        )
        wait = self.waits.get(fill.node)
        if wait is not None and not view.missing:
            wait.outcome, wait.by = K.CONFIRM, fill.user
        self._details()
        return self._shown(fill.node)

    @workflow.signal(
        description="A person's decision as JSON: {node, user, action, comment}; "
        "action is CONFIRM, SKIP, RETRY, DONE or ABORT."
    )
    def decide(self, decision: Decision) -> None:
        reason = self._refusal(decision, decision.action)
        if reason is None and decision.action == K.DONE and not (decision.comment or "").strip():
            reason = "marking a step done by hand needs a comment"
        if reason:
            self._refused(decision.node, decision.user, decision.action, reason)
            return
        self._apply(decision, decision.action)

    @workflow.signal(
        description="The alert that started this execution resolved: {fingerprint, ended_at}. "
        "Recorded; the execution goes on (a person decides whether to stop it)."
    )
    def alert_resolved(self, note: AlertResolved) -> None:
        self.alert_resolved_at = note.ended_at or workflow.now()
        workflow.logger.info("alert resolved", extra={"fingerprint": note.fingerprint})
        self._details()

    @workflow.signal(description="Fill in parameters as JSON {node, user, values: {...}}.")
    def fill(self, fill: Fill) -> None:
        reason = self._fill_refusal(fill, signal=True)
        if reason:
            self._refused(fill.node, fill.user, "FILL", reason)
            return
        self.signal_filled.add(fill.node)
        self._fill(fill)

    def _refused(self, node: str, user: str, action: str, reason: str) -> None:
        workflow.logger.warning("refused", extra={"node": node, "user": user, "reason": reason})
        view = self.views.get(node)
        if view is not None:
            view.decisions.append(
                DecisionRecord(
                    action=f"REFUSED {action}", user=user, at=workflow.now(), comment=reason
                )
            )

    @workflow.query(description="The live state of the execution and every node.")
    def get_state(self) -> ExecutionView:
        return self._view()

    # -- views, details, bookkeeping ---------------------------------------------------------------

    def _view(self) -> ExecutionView:
        snapshot = self.snapshot
        return ExecutionView(
            execution_id=snapshot.execution_id if snapshot else workflow.info().workflow_id,
            plan=snapshot.plan_name if snapshot else self.params.plan,
            plan_id=snapshot.plan_id if snapshot else 0,
            plan_version=snapshot.plan_version if snapshot else 0,
            scene=snapshot.scene if snapshot else "",
            state=self.state,
            waiting_for=self._waiting_text(),
            nodes=[self._shown(key) for key in self._owned_keys()] if snapshot else [],
            alert_resolved_at=self.alert_resolved_at,
        )

    def _shown(self, key: str) -> NodeView:
        """A node as people see it: secret parameters masked (filled ones are sealed text)."""
        view = self.views[key]
        secret = self.specs[key].secret_params
        return view.model_copy(update={"params": masked(view.params, secret)}) if secret else view

    def _waiting_text(self) -> str | None:
        texts = []
        for key, wait in self.waits.items():
            spec, view = self.specs[key], self.views[key]
            count = (
                f" ({len(wait.approvals)} of {wait.approvals_needed} approvals)"
                if wait.approvals_needed > 1
                else ""
            )
            texts.append(
                f"step {key} '{spec.name}' waits for {view.waiting_for}{count}; "
                f"may act: {', '.join(people.may_act(spec))}"
            )
        return "; ".join(texts) or None

    def _details(self) -> None:
        running = [
            f"step {v.key} '{v.name}'" for v in self.views.values() if v.state == NodeState.RUNNING
        ]
        text = self._waiting_text() or (
            f"Running {', '.join(running)}" if running else f"{self.state}"
        )
        if self.alert_resolved_at is not None:
            text += f" (its alert resolved at {self.alert_resolved_at:%Y-%m-%d %H:%M:%S} UTC)"
        workflow.set_current_details(text)

    def _record_now(self, final: bool) -> ExecutionRecord:
        assert self.snapshot is not None
        top = self.params.sub_plan is None
        return ExecutionRecord(
            execution_row=self.snapshot.execution_row,
            state=(self.state if not self.waits else ExecutionState.WAITING) if top else None,
            error=self.error,
            ended=final and top,
            nodes=[_record_of(self.specs[key], self.views[key]) for key in self._owned_keys()],
        )

    async def _record(self, *, final: bool = False) -> None:
        """Mirror this workflow's nodes into the database. The final write waits for the
        database however long it is away; a write at a wait that finds it away is caught
        up in the background (`_catch_up`) while the execution waits for its person."""
        if final and self.ended_by_step is not None and self.state == ExecutionState.SUCCEEDED:
            if _outline(self._record_now(True)) != _outline(self.ended_by_step):
                # A refused decision came between the step's write and now: the history
                # keeps it; the ended execution's rows cannot take it any more.
                workflow.logger.warning("changed after its last step recorded the end")
            return
        if final:
            self.finishing = True
            # At most one write in flight, so an older view never lands after a newer one.
            await workflow.wait_condition(lambda: not self.catching_up)
            await self._until_written(
                RECORD_EXECUTION, self._record_now(True), timedelta(seconds=30)
            )
            return
        if self.catching_up:
            return  # the catching up writes the newest view when the database is back
        try:
            await self._write_view()
        except FailureError as exc:
            if not _database_away(exc):
                workflow.logger.warning(
                    "database not updated at this wait; the final record will be",
                    extra={"error": _cause(exc)},
                )
                return
            workflow.logger.warning("database unavailable at this wait; catching up later")
            self.catching_up = True
            self._catcher = asyncio.create_task(self._catch_up())

    async def _write_view(self) -> None:
        """One try (three quick attempts) at writing the current view, not the end."""
        await workflow.execute_local_activity(
            RECORD_EXECUTION,
            self._record_now(False),
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=BOOKKEEPING,
        )

    async def _catch_up(self) -> None:
        """Write the newest view once the database answers (unless the end comes first)."""
        pause = FIRST_PAUSE
        try:
            while True:
                if await _ended_within(lambda: self.finishing, pause):
                    return
                pause = min(pause * 2, LONGEST_PAUSE)
                try:
                    await self._write_view()
                    workflow.logger.info("database back: the execution's rows caught up")
                    return
                except FailureError as exc:
                    if not _database_away(exc):
                        return  # the final record writes it, or says why it cannot
        finally:
            self.catching_up = False

    async def _until_written(
        self, activity: str, argument: Any, limit: timedelta, result_type: type | None = None
    ) -> Any:
        """Run a bookkeeping local activity until the database takes it, waiting on
        durable timers between tries (queries answer meanwhile), for DATABASE_PATIENCE."""
        deadline, pause = workflow.now() + DATABASE_PATIENCE, FIRST_PAUSE
        while True:
            try:
                return await workflow.execute_local_activity(
                    activity,
                    argument,
                    result_type=result_type,
                    start_to_close_timeout=limit,
                    retry_policy=BOOKKEEPING,
                )
            except FailureError as exc:
                if not _database_away(exc) or workflow.now() + pause > deadline:
                    raise
                workflow.logger.warning(
                    "database unavailable; bookkeeping tries again",
                    extra={"in_seconds": pause.total_seconds()},
                )
            await workflow.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)


def child_workflow_id(execution_id: str, sub_plan: str) -> str:
    """Workflow id of a disaster-recovery sub-plan's child workflow."""
    return f"{execution_id}/{sub_plan}"


def _who(roles: list[str], groups: list[str], proven_by: str | None) -> dict[str, object]:
    """What a decision record keeps of who made it, beyond the name."""
    who: dict[str, object] = {"roles": roles} if roles else {}
    if groups:
        who["groups"] = groups
    if proven_by:
        who["proven_by"] = proven_by
    return who


def _masked(spec: NodeSpec) -> dict[str, object]:
    return masked(spec.params, spec.secret_params)


def _effective_params(spec: NodeSpec, view: NodeView) -> dict[str, object]:
    """The parameters a step runs with: the snapshot's, plus those people filled in."""
    return {**spec.params, **{k: v for k, v in view.params.items() if k in spec.pending}}


def _record_of(spec: NodeSpec, view: NodeView) -> NodeRecord:
    params = _effective_params(spec, view)
    return NodeRecord(
        node_id=spec.node_id,
        state=view.state,
        params=params,
        pending=view.missing,
        decisions=view.decisions,
        attempts=view.attempts,
        output=view.output,
        error=view.error,
        started_at=view.started_at,
        ended_at=view.ended_at,
    )


def _outline(record: ExecutionRecord) -> list[tuple[int, str, int, int]]:
    """What an execution's record must agree on with another: each node's state, attempts
    and number of decisions (the step fills in its own output and times)."""
    return [(n.node_id, n.state, n.attempts, len(n.decisions)) for n in record.nodes]


async def _ended_within(condition: Any, pause: timedelta) -> bool:
    """Wait up to `pause` (a durable timer) for `condition`; True if it came."""
    try:
        await workflow.wait_condition(condition, timeout=pause)
    except TimeoutError:
        return False
    return True


def _database_away(exc: FailureError) -> bool:
    """A bookkeeping (local) activity failed because the database did not answer, not
    because of its data. A local activity's failure arrives as its own error, a regular
    activity's wrapped in an ActivityError."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    if isinstance(cause, ApplicationError):
        return cause.type == DATABASE_UNAVAILABLE
    return isinstance(cause, ActivityTimeout)


def _cause(exc: BaseException) -> str:
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return str(cause) or type(cause).__name__
