"""Two data centres: a worker per site (separate processes), each polling the shared task
queue and its site's own. Site A's worker is killed; the DC switch example plan, whose
switch-over names site B, still completes, its switch-over steps run by B's worker, and
nothing is left waiting on A's queue."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeTaskQueueResponse,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from executions.service import Executions
from plans import store
from plans.files import read_file
from storage.db import session_factory
from tests.faults.conftest import stop, worker_process
from tests.support import Say, wait_until_async
from workflows.execution import child_workflow_id
from workflows.models import Decision, DecisionKind, ExecutionInput

EXAMPLE = Path(__file__).parents[2] / "examples" / "plans" / "recovery-core-banking-dc-switch.yaml"


async def _describe(client: Client, queue: str) -> DescribeTaskQueueResponse:
    return await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            include_task_queue_status=True,
        )
    )


async def _pollers(client: Client, queue: str) -> int:
    return len((await _describe(client, queue)).pollers)


async def _backlog(client: Client, queue: str) -> int:
    return int((await _describe(client, queue)).task_queue_status.backlog_count_hint)


@pytest.mark.devserver
@pytest.mark.slow
async def test_the_dc_switch_completes_in_site_b_when_site_a_is_lost(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str, tmp_path: Path, say: Say
) -> None:
    client = dev_env.client
    with session_factory(engine_db)() as session:
        plan = store.apply(session, read_file(EXAMPLE)).name
        session.commit()
    address = client.service_client.config.target_host
    workers = {
        site: worker_process(address, engine_db, task_queue, tmp_path / f"{site}.log", site=site)
        for site in ("dc-a", "dc-b")
    }
    try:
        for site in workers:

            async def polling(site: str = site) -> bool:
                return await _pollers(client, f"{task_queue}@{site}") > 0

            await wait_until_async(polling, within=90, what=f"the {site} worker polling")
        workers["dc-a"].send_signal(signal.SIGKILL)  # DC A is lost, with its worker
        workers["dc-a"].wait(30)
        say("site A's worker killed; site B's polls the shared queue and nightwatch@dc-b")

        service = Executions(client, task_queue, database_url=engine_db)
        execution = f"dc-switch-{uuid.uuid4().hex[:10]}"
        await service.start(ExecutionInput(plan=plan, triggered_by="duty manager"), execution)
        decided: set[tuple[str, str]] = set()
        began = time.monotonic()
        seen: list[str] = []

        async def finished() -> bool:
            view = await service.view(execution)
            seen[:] = [f"{n.key} {n.state} {n.waiting_for or ''}" for n in view.nodes]
            for node in view.nodes:
                waits = node.waiting_for or ""
                asked = "confirmation" in waits or "manual work" in waits
                if asked and (node.key, waits) not in decided:
                    decision = Decision(
                        node=node.key, user="zhang.min", roles=["approver", "operator"]
                    )
                    await service.decide(execution, DecisionKind.CONFIRM, decision)
                    decided.add((node.key, waits))
            assert view.state not in ("FAILED", "ABORTED", "CANCELLED"), view
            return view.state == "SUCCEEDED"

        try:
            await wait_until_async(finished, within=180, what="the DC switch to succeed")
        except AssertionError:
            raise AssertionError(f"the DC switch did not succeed: {seen}") from None
        say(f"the DC switch succeeded in {time.monotonic() - began:.0f} s with site A gone")

        # The switch-over's steps ran on site B's workers, on B's queue.
        switch = client.get_workflow_handle(child_workflow_id(execution, "DISASTER_SWITCH"))
        started = [
            event.activity_task_started_event_attributes.identity
            async for event in switch.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        scheduled = [
            event.activity_task_scheduled_event_attributes.task_queue.name
            async for event in switch.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        b = f":{workers['dc-b'].pid}@dc-b"  # site B's worker process, on its site queue
        assert len(started) == 4 and all(who.endswith(b) for who in started), started
        assert set(scheduled) == {f"{task_queue}@dc-b"}, scheduled
        assert await _backlog(client, f"{task_queue}@dc-a") == 0
        assert await _pollers(client, f"{task_queue}@dc-b") > 0
    finally:
        for process in workers.values():
            stop(process)
