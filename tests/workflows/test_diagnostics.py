"""The diagnostics workflow runs through a real worker into the real database."""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.diagnostics import DiagnosticsActivities
from nightwatch.temporal import SEARCH_ATTRIBUTES
from storage.migrate import head_revision
from workflows.diagnostics import DiagnosticsInput, DiagnosticsWorkflow


async def _run(client: Client, task_queue: str, db_url: str) -> None:
    activities = DiagnosticsActivities(db_url)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[DiagnosticsWorkflow],
        activities=[activities.check_database],
    ):
        result = await client.execute_workflow(
            DiagnosticsWorkflow.run,
            DiagnosticsInput(requested_by="test"),
            id=f"diag-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
    assert result.task_queue == task_queue
    assert result.database.schema_revision == head_revision()
    assert result.database.code_head == head_revision()
    assert result.database.server_version[:2].isdigit()


async def test_diagnostics_on_the_time_skipping_server(
    time_skipping_env: WorkflowEnvironment, task_queue: str, db_url: str
) -> None:
    await _run(time_skipping_env.client, task_queue, db_url)


async def test_diagnostics_on_the_dev_server(
    dev_env: WorkflowEnvironment, task_queue: str, db_url: str
) -> None:
    await _run(dev_env.client, task_queue, db_url)


async def test_dev_server_has_our_search_attributes(dev_env: WorkflowEnvironment) -> None:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    response = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=dev_env.client.namespace)
    )
    assert {key.name for key in SEARCH_ATTRIBUTES} <= set(response.custom_attributes)
