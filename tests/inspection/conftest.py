"""Inspection on the real dev server: a worker, the schedule service, local targets."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI, Response
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from executions.inspections import Inspections
from inspection import store
from inspection.model import parse_document
from runtime.worker import build_worker
from storage.db import session_factory
from tests.support import serve, wait_until_async
from workflows.inspection import RunSummary


@dataclass
class Targets:
    """A bank's endpoints, served over real HTTP: each path answers as told."""

    url: str
    status: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    default_delay: float = 0.0
    hits: dict[str, int] = field(default_factory=dict)


def targets_app(targets: Targets) -> FastAPI:
    app = FastAPI()

    @app.get("/t/{name}")
    async def answer(name: str) -> Response:
        targets.hits[name] = targets.hits.get(name, 0) + 1
        await asyncio.sleep(targets.delay.get(name, targets.default_delay))
        status = targets.status.get(name, 200)
        body = '{"status": "UP"}' if status < 400 else '{"status": "DOWN"}'
        return Response(body, status_code=status, media_type="application/json")

    return app


@pytest.fixture(scope="session")
def targets() -> Iterator[Targets]:
    found = Targets(url="")
    with serve(targets_app(found)) as url:
        found.url = url
        yield found


@dataclass
class Inspect:
    env: WorkflowEnvironment
    db: str
    queue: str
    service: Inspections
    targets: Targets
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def name(self, base: str) -> str:
        """Plan names of this test (the dev server outlives each test's database)."""
        return f"{base}-{self.run}"

    async def apply(self, document: dict[str, Any], user: str = "tests") -> dict[str, Any]:
        return await self.service.apply(parse_document(document), user)

    async def run_now(self, name: str) -> RunSummary:
        started = await self.service.run_now(name, "tests")
        handle: WorkflowHandle[Any, Any] = self.env.client.get_workflow_handle(
            started["workflow_id"], result_type=RunSummary
        )
        return await asyncio.wait_for(handle.result(), 120)

    def query(self, sql: str, **values: Any) -> list[Any]:
        with session_factory(self.db)() as session:
            return list(session.execute(text(sql), values))

    async def results_of(self, run_id: int) -> dict[tuple[str, str], Any]:
        rows = self.query(
            "select check_name, target, outcome, failures, observed from inspection_result "
            "where run_id = :run",
            run=run_id,
        )
        return {(r.check_name, r.target): r for r in rows}

    async def until_runs(self, name: str, count: int, within: float = 60) -> list[Any]:
        async def enough() -> bool:
            return len(self.runs(name)) >= count

        await wait_until_async(enough, within=within, what=f"{count} completed runs of {name}")
        return self.runs(name)

    def runs(self, name: str) -> list[Any]:
        return self.query(
            "select r.* from inspection_run r join inspection_plan p on p.id = r.plan_id "
            "where p.name = :name and r.state = 'COMPLETED' order by r.id",
            name=name,
        )

    async def cleanup(self) -> None:
        with session_factory(self.db)() as session:
            names = [row.name for row in store.list_plans(session)]
        for name in names:
            with contextlib.suppress(RPCError):
                await self.env.client.get_schedule_handle(store.schedule_id(name)).delete()


def http_plan(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "format": "nightwatch/inspection/v1",
        "name": name,
        "schedule": {"every": "1h"},
        "checks": [
            {
                "name": "loan-api",
                "kind": "http",
                "severity": "critical",
                "params": {"url": f"{url}/t/loan", "timeout_ms": 3000},
                "conditions": ["status == 200", "json.status == UP", "response_time < 2s"],
            },
            {
                "name": "pay-api",
                "kind": "http",
                "params": {"url": f"{url}/t/pay"},
            },
        ],
        **extra,
    }


@pytest_asyncio.fixture
async def inspect(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str, targets: Targets
) -> AsyncIterator[Inspect]:
    targets.status.clear()
    targets.delay.clear()
    targets.hits.clear()
    targets.default_delay = 0.0
    service = Inspections(dev_env.client, task_queue, database_url=engine_db)
    async with build_worker(dev_env.client, task_queue, engine_db):
        found = Inspect(dev_env, engine_db, task_queue, service, targets)
        try:
            yield found
        finally:
            await found.cleanup()
