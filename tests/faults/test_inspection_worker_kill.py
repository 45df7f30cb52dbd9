"""A worker killed with SIGKILL in the middle of an inspection run: a new worker finishes
the run; every check has exactly one result, none lost, none twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from executions.inspections import Inspections
from inspection.model import parse_document
from tests.faults.conftest import stop, worker_process
from tests.inspection.conftest import Targets, targets

__all__ = ["targets"]  # the fixture
from tests.support import Say, wait_until_async
from workflows.inspection import RunSummary

CHECKS = 60


@pytest.mark.devserver
@pytest.mark.slow
async def test_a_run_survives_a_killed_worker_without_losing_or_repeating_results(
    dev_env: WorkflowEnvironment,
    engine_db: str,
    task_queue: str,
    targets: Targets,
    tmp_path: Path,
    say: Say,
) -> None:
    targets.default_delay, targets.status = 0.4, {}
    name = f"kill-{task_queue}"
    doc = parse_document(
        {
            "format": "nightwatch/inspection/v1",
            "name": name,
            "schedule": {"every": "1h"},
            "limits": {"concurrency": 5, "batch": 20, "per_target": 5},
            "checks": [
                {
                    "name": "svc",
                    "kind": "http",
                    "params": {"url": f"{targets.url}/t/first"},
                    "targets": [{"url": f"{targets.url}/t/svc-{i}"} for i in range(CHECKS)],
                }
            ],
        }
    )
    service = Inspections(dev_env.client, task_queue, database_url=engine_db)
    await service.apply(doc, "tests")
    address = dev_env.client.service_client.config.target_host
    log = tmp_path / "worker.log"
    first = worker_process(address, engine_db, task_queue, log)
    try:
        started = await service.run_now(name, "tests")

        def stored() -> int:
            from sqlalchemy import text

            from storage.db import session_factory

            with session_factory(engine_db)() as session:
                return int(
                    session.execute(
                        text(
                            "select count(*) from inspection_result r join inspection_run u "
                            "on u.id = r.run_id where u.workflow_id = :wf"
                        ),
                        {"wf": started["workflow_id"]},
                    ).scalar_one()
                )

        async def some_stored() -> bool:
            return stored() >= 10

        await wait_until_async(some_stored, within=90, what="10 results stored")
        first.kill()
        first.wait(30)
        before = stored()
        say(f"worker killed (SIGKILL) with {before} of {CHECKS} results stored")
        assert before < CHECKS
    finally:
        stop(first)
    second = worker_process(address, engine_db, task_queue, log)
    try:
        handle = dev_env.client.get_workflow_handle(started["workflow_id"], result_type=RunSummary)
        summary = await asyncio.wait_for(handle.result(), 180)
    finally:
        stop(second)
    assert (summary.checks, summary.passed) == (CHECKS, CHECKS)
    assert stored() == CHECKS
    probed = sum(hits for target, hits in targets.hits.items() if target.startswith("svc-"))
    assert {f"svc-{i}" for i in range(CHECKS)} <= set(targets.hits)
    say(f"{CHECKS} results, each once; {probed} probes (those in flight at the kill ran again)")
