"""Health of each part: the database, the Temporal frontend, the Web UI and the workers."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client

from nightwatch.config import Settings
from nightwatch.errors import NightwatchError
from nightwatch.temporal import connect
from storage.db import check_reachable, shown_url
from storage.migrate import current_revision, head_revision
from workflows.diagnostics import DiagnosticsInput, DiagnosticsResult, DiagnosticsWorkflow


@dataclass
class PartHealth:
    part: str
    ok: bool
    address: str
    detail: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


async def check_database(settings: Settings) -> PartHealth:
    url = settings.effective_database_url
    try:
        version = await asyncio.to_thread(check_reachable, url)
        revision = await asyncio.to_thread(current_revision, url)
    except NightwatchError as exc:
        return PartHealth("postgres", False, shown_url(url), exc.reason)
    head = head_revision()
    if revision is None:
        return PartHealth("postgres", False, shown_url(url), "reachable; schema not migrated")
    state = "schema current" if revision == head else f"schema at {revision}, code at {head}"
    return PartHealth("postgres", True, shown_url(url), f"PostgreSQL {version}; {state}")


async def connect_checked(settings: Settings, wait: float = 5.0) -> Client | PartHealth:
    address = settings.effective_temporal_address
    try:
        return await asyncio.wait_for(connect(settings), wait)
    except (TimeoutError, RuntimeError, OSError) as exc:
        return PartHealth("temporal", False, address, f"cannot connect: {exc}")


async def check_temporal(client: Client, settings: Settings) -> PartHealth:
    address = settings.effective_temporal_address
    try:
        info = await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=5)
        )
    except Exception as exc:  # any RPC failure means "not healthy", with its message
        return PartHealth("temporal", False, address, f"no answer: {exc}")
    return PartHealth("temporal", True, address, f"server {info.server_version or 'dev'}")


async def check_http(part: str, url: str) -> PartHealth:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return PartHealth(part, False, url, f"no answer: {type(exc).__name__}")
    ok = response.status_code == 200
    return PartHealth(part, ok, url, f"HTTP {response.status_code}")


async def check_ui(settings: Settings) -> PartHealth:
    return await check_http("ui", f"http://127.0.0.1:{settings.temporal_ui_port}/")


# Temporal lists a poller for minutes after it stopped; a live one polls at least every ~70 s.
POLLER_FRESHNESS = timedelta(seconds=120)


async def worker_pollers(client: Client, settings: Settings) -> list[str]:
    """Identities of workers that polled the task queue recently."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=5),
    )
    now = datetime.now(UTC)
    return sorted(
        {
            poller.identity
            for poller in response.pollers
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESHNESS
        }
    )


async def check_workers(client: Client, settings: Settings, *, deep: bool) -> PartHealth:
    queue = settings.task_queue
    try:
        pollers = await worker_pollers(client, settings)
    except Exception as exc:  # an RPC failure is reported, not raised
        return PartHealth("worker", False, queue, f"cannot describe task queue: {exc}")
    if not pollers:
        return PartHealth("worker", False, queue, "no worker polls this task queue")
    detail = f"{len(pollers)} polling: {', '.join(pollers)}"
    if deep:
        try:
            result = await run_diagnostics(client, settings)
        except Exception as exc:  # the end-to-end run failed: say how
            return PartHealth("worker", False, queue, f"diagnostics workflow failed: {exc}")
        detail += f"; ran diagnostics (database {result.database.server_version})"
    return PartHealth("worker", True, queue, detail)


async def run_diagnostics(client: Client, settings: Settings) -> DiagnosticsResult:
    return await client.execute_workflow(
        DiagnosticsWorkflow.run,
        DiagnosticsInput(),
        id=f"nightwatch-diagnostics-{uuid.uuid4().hex[:12]}",
        task_queue=settings.task_queue,
        execution_timeout=timedelta(seconds=30),
    )


async def check_all(
    settings: Settings,
    *,
    deep: bool = False,
    http: dict[str, str] | None = None,
    ui: bool = True,
) -> list[PartHealth]:
    """Every part; `http` adds services by name and health URL (the stack's API, simulator);
    `ui=False` leaves the Web UI out (a container's probe: a worker does not need it)."""
    extra = [await check_http(part, url) for part, url in (http or {}).items()]
    parts = await _core_parts(settings, deep)
    return [part for part in parts if ui or part.part != "ui"] + extra


async def _core_parts(settings: Settings, deep: bool) -> list[PartHealth]:
    database = await check_database(settings)
    client = await connect_checked(settings)
    if isinstance(client, PartHealth):
        worker = PartHealth("worker", False, settings.task_queue, "Temporal unreachable")
        parts = [database, client, await check_ui(settings), worker]
    else:
        parts = [
            database,
            await check_temporal(client, settings),
            await check_ui(settings),
            await check_workers(client, settings, deep=deep),
        ]
    return parts
