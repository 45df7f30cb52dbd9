"""An inspection run, and the re-check after a plan tried to fix what a check found.

`InspectionRunWorkflow` (one per scheduled, triggered or back-filled run of an inspection
plan): `begin_inspection_run` expands the plan's targets and stores the run's work list in
the database, `run_inspection_batch` activities run the checks in batches (bounded
concurrency, each check with its own timeout, progress heartbeated, results written as
they come: a retried batch skips what is stored, so a killed worker neither loses nor
repeats results), and `conclude_inspection_run` turns the results into flapping state,
risk events, routed plans and notifications. The history holds a few events per batch,
never one per check.

`InspectionRecheckWorkflow` waits for a plan execution started for a failed check to end,
then runs that check on that target at once and records on the risk event whether the
execution fixed it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

# Activities by name (activities/inspection.py): workflow code imports no activity module.
BEGIN_RUN = "begin_inspection_run"
RUN_BATCH = "run_inspection_batch"
CONCLUDE_RUN = "conclude_inspection_run"
AWAIT_EXECUTION = "await_execution_end"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

Trigger = Literal["SCHEDULE", "MANUAL", "BACKFILL", "RECHECK"]


class Only(BaseModel):
    """One check on one target (a re-check runs just this)."""

    check: str
    target: str


class InspectionRunInput(BaseModel):
    plan: str
    trigger: Trigger = "SCHEDULE"
    requested_by: str | None = None
    only: list[Only] = Field(default_factory=list)
    # A re-check: the risk event and the execution it follows.
    recheck_event: int | None = None
    recheck_execution: str | None = None


class BeginRun(BaseModel):
    plan: str
    workflow_id: str
    trigger: Trigger
    requested_by: str | None = None
    scheduled_at: datetime | None = None
    only: list[Only] = Field(default_factory=list)


class RunPlan(BaseModel):
    """What the run will do: its row, how many checks, how they are batched."""

    run_id: int
    plan_id: int
    checks: int
    batches: list[tuple[int, int]]  # [start, end) into the stored work list
    parallel: int  # batches running at once
    concurrency: int  # checks running at once in the whole run (split between batches)
    per_target: int  # checks running at once against one host
    batch_timeout_seconds: int


class RunBatch(BaseModel):
    run_id: int
    start: int
    end: int
    concurrency: int
    per_target: int


class BatchCounts(BaseModel):
    passed: int = 0
    warned: int = 0
    failed: int = 0
    resumed: int = 0  # results a previous attempt had stored already


class ConcludeRun(BaseModel):
    run_id: int
    recheck_event: int | None = None
    recheck_execution: str | None = None


class RunSummary(BaseModel):
    run_id: int
    plan: str
    checks: int
    passed: int
    warned: int
    failed: int
    new_failures: int
    recoveries: int
    still_failing: int
    events_opened: int
    notified: list[str] = Field(default_factory=list)
    started: list[str] = Field(default_factory=list)  # executions started for new failures


class RecheckInput(BaseModel):
    plan: str
    check: str
    target: str
    risk_event: int
    execution_id: str


class ExecutionEnded(BaseModel):
    execution_id: str
    state: str


RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn
class InspectionRunWorkflow:
    @workflow.run
    async def run(self, params: InspectionRunInput) -> RunSummary:
        info = workflow.info()
        scheduled = info.typed_search_attributes.get(SCHEDULED_START)
        plan = await workflow.execute_activity(
            BEGIN_RUN,
            BeginRun(
                plan=params.plan,
                workflow_id=info.workflow_id,
                trigger=params.trigger if scheduled is None else "SCHEDULE",
                requested_by=params.requested_by,
                scheduled_at=scheduled,
                only=params.only,
            ),
            result_type=RunPlan,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY,
        )
        room = asyncio.Semaphore(plan.parallel)

        async def batch(start: int, end: int) -> BatchCounts:
            async with room:
                counts: BatchCounts = await workflow.execute_activity(
                    RUN_BATCH,
                    RunBatch(
                        run_id=plan.run_id,
                        start=start,
                        end=end,
                        concurrency=max(1, plan.concurrency // plan.parallel),
                        per_target=plan.per_target,
                    ),
                    result_type=BatchCounts,
                    start_to_close_timeout=timedelta(seconds=plan.batch_timeout_seconds),
                    heartbeat_timeout=timedelta(seconds=20),
                    retry_policy=RETRY,
                )
                return counts

        await asyncio.gather(*(batch(start, end) for start, end in plan.batches))
        summary: RunSummary = await workflow.execute_activity(
            CONCLUDE_RUN,
            ConcludeRun(
                run_id=plan.run_id,
                recheck_event=params.recheck_event,
                recheck_execution=params.recheck_execution,
            ),
            result_type=RunSummary,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RETRY,
        )
        return summary


@workflow.defn
class InspectionRecheckWorkflow:
    @workflow.run
    async def run(self, params: RecheckInput) -> RunSummary:
        await workflow.execute_activity(
            AWAIT_EXECUTION,
            params.execution_id,
            result_type=ExecutionEnded,
            start_to_close_timeout=timedelta(days=7),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
        summary: RunSummary = await workflow.execute_child_workflow(
            InspectionRunWorkflow.run,
            InspectionRunInput(
                plan=params.plan,
                trigger="RECHECK",
                only=[Only(check=params.check, target=params.target)],
                recheck_event=params.risk_event,
                recheck_execution=params.execution_id,
            ),
            id=f"{workflow.info().workflow_id}-run",
        )
        return summary
