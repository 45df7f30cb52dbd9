"""The worker process: migrate, initialise, then (never before) register with Temporal."""

from __future__ import annotations

import asyncio
import compileall
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.diagnostics import DiagnosticsActivities
from activities.execution import ExecutionActivities
from activities.inspection import InspectionActivities
from audit.archive import archive_forever
from intake.inspection_routing import InspectionRouter
from nightwatch.codec import KeyRing
from nightwatch.config import Settings
from nightwatch.logs import get_logger
from nightwatch.metrics import serve_metrics
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import default_context, run_tasks
from storage import migrate
from workflows.diagnostics import DiagnosticsWorkflow
from workflows.execution import PlanExecutionWorkflow
from workflows.inspection import InspectionRecheckWorkflow, InspectionRunWorkflow

log = get_logger("nightwatch.worker")

WORKFLOWS: Sequence[type] = (
    DiagnosticsWorkflow,
    PlanExecutionWorkflow,
    InspectionRunWorkflow,
    InspectionRecheckWorkflow,
)
# Sync activities (bookkeeping through SQLAlchemy) run on this many threads.
ACTIVITY_THREADS = 16
# Workflow activations run on this many threads (the SDK's default is up to 500). They are
# short, pure Python: more threads cannot run more of them at once under the GIL, they
# only take it from one another (one thread cut worker CPU per execution by 14 % in an A/B
# run of bench/engine.py; two keep one activation from waiting behind a slow one).
WORKFLOW_THREADS = 2
# Executions waiting for people need no memory: evicted ones replay on the next decision
# (short histories), so the cache stays small.
MAX_CACHED_WORKFLOWS = 300
# Workflows run outside the SDK's sandbox: entering it costs more CPU per workflow task
# than the rest of an execution's orchestration (profiled: bench/results/profile.md).
# Determinism is guarded instead by tests/workflows/test_determinism_rules.py (no clock,
# randomness, I/O or environment in workflow code) and the replay corpus.
SANDBOXED = False


def activities(database_url: str, ring: KeyRing | None = None) -> list[Callable[..., Any]]:
    """Every activity a worker serves, bound to its database (and to the payload keys,
    which unseal secret parameters)."""
    diagnostics = DiagnosticsActivities(database_url)
    execution = ExecutionActivities(database_url, ring)
    inspection = InspectionActivities(database_url, InspectionRouter(database_url, ring))
    return [
        *inspection.all(),
        diagnostics.check_database,
        execution.create_execution,
        *execution.step_activities(),
        execution.record_execution,
        execution.send_reminder,
    ]


def worker_identity() -> str:
    return f"nightwatch-worker@{socket.gethostname()}:{os.getpid()}"


def precompile_workflows(workflows: Sequence[type] = WORKFLOWS) -> None:
    """Byte-compile the workflows' modules once, where Python looks for bytecode.

    With the sandbox on (`SANDBOXED`), it imports a workflow's module afresh for every
    execution; with bytecode writing off (PYTHONDONTWRITEBYTECODE, common in container
    images) each of those imports would compile the source again. An unwritable install
    (bytecode is usually compiled there at install time) is left alone.
    """
    for path in {Path(str(sys.modules[cls.__module__].__file__)) for cls in workflows}:
        compileall.compile_file(path, quiet=2)


def runner(sandboxed: bool = SANDBOXED) -> WorkflowRunner:
    """How workflows run: production's runner (`SANDBOXED`), which replay uses too."""
    return SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()


def settle_memory() -> None:
    """Call once the worker is built, before it polls: what start-up made (modules, the
    catalog, converters, type adapters) lives as long as the process, so the cyclic garbage
    collector stops scanning it again and again (gc.freeze). Executions' objects are still
    collected as before; only the long-lived start-up heap leaves the full collections
    (measured: their CPU in a busy worker fell from 0.51 to 0.22 s over a benchmark run)."""
    gc.collect()
    gc.freeze()


def build_worker(
    client: Client,
    task_queue: str,
    database_url: str,
    ring: KeyRing | None = None,
    *,
    sandboxed: bool = SANDBOXED,
) -> Worker:
    """The worker `worker.py` runs, for tests and benchmarks: the same workflows,
    activities and options."""
    precompile_workflows()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(database_url, ring),
        workflow_runner=runner(sandboxed),
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        workflow_task_executor=ThreadPoolExecutor(WORKFLOW_THREADS),
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        identity=worker_identity(),
    )


def site_workers(client: Client, settings: Settings) -> list[Worker]:
    """The further workers of a worker in a data centre (NIGHTWATCH_SITE): steps that name
    the site run on its queue, `<task_queue>@<site>`, and nowhere else."""
    return [
        Worker(
            client,
            task_queue=f"{settings.task_queue}@{site}",
            activities=activities(settings.effective_database_url, settings.key_ring()),
            activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
            identity=f"{worker_identity()}@{site}",
        )
        for site in settings.sites
    ]


async def prepare(settings: Settings) -> None:
    """Everything that must be done before the worker may register: schema, then init tasks."""
    url = settings.effective_database_url
    result = await asyncio.to_thread(migrate.upgrade, url)
    log.info("database ready", revision=result.after, newer_schema=result.newer_schema)
    context = default_context(settings.deployment)
    outcomes = await asyncio.to_thread(
        run_tasks, url, INIT_TASKS, context, wait_seconds=settings.init_wait_seconds
    )
    for outcome in outcomes:
        log.info(
            "init task ran" if outcome.ran else "init task already done",
            task=outcome.task,
            deployment=outcome.deployment,
            done_by=outcome.done_by,
        )


async def serve(
    worker: Worker, client: Client, settings: Settings, sites: Sequence[Worker] = ()
) -> None:
    """Run `worker` until SIGTERM or SIGINT, archiving closed histories beside it; on a
    signal, in-flight tasks finish first."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "worker registered",
        task_queue=settings.task_queue,
        site_queues=[f"{settings.task_queue}@{site}" for site in settings.sites],
        identity=worker_identity(),
    )
    archiver = asyncio.create_task(
        archive_forever(client, settings.effective_database_url, settings.archive_interval_seconds)
    )
    page = metrics_server(settings)
    settle_memory()
    async with AsyncExitStack() as running:
        for each in (worker, *sites):
            await running.enter_async_context(each)
        await stop.wait()
        archiver.cancel()
        log.info("worker stopping: finishing in-flight tasks")
    if page is not None:
        page.shutdown()
    log.info("worker stopped")


def metrics_server(settings: Settings) -> WSGIServer | None:
    """The worker's own small HTTP server, on a thread: `/metrics` (a metrics token) and
    `/healthz`."""
    if not settings.worker_metrics_port:
        return None
    try:
        server = serve_metrics(
            settings, settings.worker_metrics_host, settings.worker_metrics_port, worker_identity()
        )
    except OSError as exc:  # a worker never stops for want of its metrics page
        log.warning(
            "worker metrics not served",
            port=settings.worker_metrics_port,
            reason=exc.strerror or str(exc),
        )
        return None
    log.info("worker metrics", address=f"{settings.worker_metrics_host}:{server.server_port}")
    return server
