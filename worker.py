"""The worker process, as Temporal's samples show one: connect to Temporal, build a worker
for the task queue with its workflows and activities, run it until stopped.

`python worker.py` and `nightwatch worker` both run `main`. Before it registers, the
worker brings the schema up to date and runs the initialisation tasks (the catalog sync
among them): a worker never serves a catalog older than its code.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from cli.output import report
from nightwatch.config import load_settings
from nightwatch.errors import NightwatchError
from nightwatch.logs import configure_logging
from nightwatch.temporal import connect
from runtime.worker import (
    ACTIVITY_THREADS,
    MAX_CACHED_WORKFLOWS,
    WORKFLOW_THREADS,
    WORKFLOWS,
    activities,
    precompile_workflows,
    prepare,
    runner,
    serve,
    site_workers,
    worker_identity,
)


async def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    await prepare(settings)  # migrate, then the initialisation tasks
    client = await connect(settings, identity=worker_identity())
    precompile_workflows()
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),  # PlanExecutionWorkflow, DiagnosticsWorkflow
        activities=activities(settings.effective_database_url, settings.key_ring()),
        workflow_runner=runner(),
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        workflow_task_executor=ThreadPoolExecutor(WORKFLOW_THREADS),
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        identity=worker_identity(),
    )
    await serve(worker, client, settings, site_workers(client, settings))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except NightwatchError as error:  # a setting, the database, Temporal: one line
        sys.exit(report(error))
