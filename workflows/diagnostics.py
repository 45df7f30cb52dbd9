"""A one-activity workflow that checks the whole path: Temporal → worker → database."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.diagnostics import DatabaseReport, DiagnosticsActivities


class DiagnosticsInput(BaseModel):
    requested_by: str = "nightwatch health"


class DiagnosticsResult(BaseModel):
    task_queue: str
    database: DatabaseReport


@workflow.defn
class DiagnosticsWorkflow:
    @workflow.run
    async def run(self, params: DiagnosticsInput) -> DiagnosticsResult:
        workflow.logger.info("diagnostics requested", extra={"by": params.requested_by})
        report = await workflow.execute_activity_method(
            DiagnosticsActivities.check_database,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
        return DiagnosticsResult(task_queue=workflow.info().task_queue, database=report)
