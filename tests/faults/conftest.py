"""Fault injection with real processes: a Temporal dev server and a PostgreSQL that can be
killed and restarted on the same state, workers run as `nightwatch worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
import pytest_asyncio
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from audit.reconcile import build_report
from nightwatch.temporal import data_converter
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from stack.postgres import EmbeddedPostgres
from stack.temporal_server import FAST_PROFILE, search_attribute_args
from storage import migrate
from storage.db import engine
from tests.conftest import point_at_simulator
from tests.support import binary, free_port, libpq_url, wait_until_async
from tests.workflows.conftest import Engine


class RestartableTemporal:
    """A dev server on its own port and state file, which a test may kill and restart."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.db_file = home / "temporal.db"
        self.log = home / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--headless",
            "--db-filename",
            str(self.db_file),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "warn",
            *search_attribute_args(),
            *FAST_PROFILE,
        ]

    async def start(self) -> None:
        self.launch()
        await wait_until_async(self.answers, within=60, what="the dev server answering")

    def launch(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)

    async def answers(self) -> bool:
        try:
            client = await Client.connect(self.address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
        except (RPCError, RuntimeError, OSError):
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    async def restart(self) -> None:
        self.kill()
        await self.start()


@pytest_asyncio.fixture
async def temporal(tmp_path: Path) -> AsyncIterator[RestartableTemporal]:
    server = RestartableTemporal(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            server.process.wait(30)


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=data_converter())


def engine_on(client: Client, db: str, queue: str) -> Engine:
    """The tests' Engine helpers (apply, start, waiting) on any client."""

    class _Env:
        pass

    env = _Env()
    env.client = client  # type: ignore[attr-defined]
    return Engine(cast(WorkflowEnvironment, env), db, queue)


class Postgres:
    """An embedded PostgreSQL of the test's own, stopped and started on the same data."""

    def __init__(self, home: Path) -> None:
        self.server = EmbeddedPostgres(home / "pg", free_port(), home / "pg.log")

    @property
    def url(self) -> str:
        return self.server.url("nightwatch")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def postgres(tmp_path: Path, simulator_url: str) -> Iterator[Postgres]:
    """A migrated, initialised database whose platforms point at the simulator."""
    pg = Postgres(tmp_path)
    pg.start()
    try:
        admin = libpq_url(pg.server.url("postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE nightwatch")
        migrate.upgrade(pg.url)
        run_tasks(pg.url, INIT_TASKS, InitContext("0.1.0", "test", "test:1"))
        point_at_simulator(pg.url, simulator_url)
        engine(pg.url).dispose()
        yield pg
    finally:
        engine(pg.url).dispose()
        pg.stop()


def worker_process(
    address: str, db: str, queue: str, log: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """`nightwatch worker` as operators run it (`settings`: more NIGHTWATCH_ variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env.update(
        NIGHTWATCH_DATABASE_URL=db,
        NIGHTWATCH_TEMPORAL_ADDRESS=address,
        NIGHTWATCH_TASK_QUEUE=queue,
        NIGHTWATCH_HOME=str(log.parent / "home"),
        NIGHTWATCH_LOG_LEVEL="INFO",
        # One test's worker archives only its own executions' histories, not every
        # closed one the shared dev server holds from the rest of the suite.
        NIGHTWATCH_ARCHIVE_INTERVAL_SECONDS="3600",
        NIGHTWATCH_WORKER_METRICS_PORT="0",
    )
    env.update({f"NIGHTWATCH_{name.upper()}": value for name, value in settings.items()})
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "nightwatch", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


async def consistent(client: Client, db: str, execution: str) -> dict[str, Any]:
    """The audit report of an ended execution: history and database agree, nothing RUNNING."""
    report = await build_report(client, db, execution, None)
    assert report["agrees"], report["differences"]
    states = [node["state"] for node in report["nodes"]]
    assert "RUNNING" not in states and "PENDING" not in states, states
    return report


async def retrying(call: Callable[[], Any], *, within: float = 60, what: str = "") -> Any:
    """Run `call` until the server takes it (it may still be coming back)."""
    results: list[Any] = []

    async def attempt() -> bool:
        try:
            results.append(await call())
        except (RPCError, RuntimeError):
            return False
        return True

    await wait_until_async(attempt, within=within, what=what)
    return results[0]
