"""A one-activity workflow that checks the whole path: Temporal → worker → database."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

# The activity by name (activities/diagnostics.py): workflow code imports no activity module.
CHECK_DATABASE = "check_database"


class DatabaseReport(BaseModel):
    server_version: str
    schema_revision: str | None
    code_head: str


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
        report = await workflow.execute_activity(
            CHECK_DATABASE,
            result_type=DatabaseReport,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
        return DiagnosticsResult(task_queue=workflow.info().task_queue, database=report)
