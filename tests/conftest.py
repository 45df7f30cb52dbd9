"""Fixtures for every real part: PostgreSQL, the Temporal time-skipping and dev servers.

PostgreSQL: `NIGHTWATCH_TEST_DATABASE_URL` names the server all tests use; without it an
embedded PostgreSQL 18 starts for the session. Schema tests also run on the machine's
server at 127.0.0.1:5432 when it answers (PostgreSQL 15 here); under CI it must answer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from catalog.sync import refresh_visibility
from nightwatch.temporal import data_converter
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from stack.postgres import EmbeddedPostgres
from storage import migrate
from storage.db import engine, session_factory
from storage.models import SystemConfig
from tests.support import (
    Say,
    binary,
    create_database,
    dev_server,
    drop_database,
    free_port,
    libpq_url,
    serve,
)

SYSTEM_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- temporary folders ---------------------------------------------------------------------
# Embedded PostgreSQL servers run as an unprivileged user that must reach their folders
# under pytest's temporary root. Every pytest session locks `/tmp/pytest-of-<user>` back to
# 0700 when it starts, so a second session on the machine would cut a running server off
# its own data. Each session gets a root of its own instead (xdist's workers are handed
# their folder by the controller).


TEMPROOT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    root = Path(tempfile.mkdtemp(prefix="nightwatch-tests-"))
    root.chmod(0o755)
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)
    config.stash[TEMPROOT] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(TEMPROOT, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


# -- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedded_pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded PostgreSQL 18 server for the whole session (its `postgres` database)."""
    home = tmp_path_factory.mktemp("pg18")
    server = EmbeddedPostgres(home / "data", free_port(), home / "postgres.log")
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def system_pg_url() -> str | None:
    """The machine's PostgreSQL at 127.0.0.1:5432, if it answers."""
    try:
        with psycopg.connect(libpq_url(SYSTEM_PG_URL), connect_timeout=2):
            return SYSTEM_PG_URL
    except psycopg.OperationalError:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL 15: the server at 127.0.0.1:5432 did not answer")
        return None


@pytest.fixture(scope="session")
def pg_server_url(embedded_pg_url: str) -> str:
    """The server most tests use: NIGHTWATCH_TEST_DATABASE_URL, else the embedded one."""
    return os.environ.get("NIGHTWATCH_TEST_DATABASE_URL") or embedded_pg_url


@pytest.fixture(params=["pg18-embedded", "pg15-system"])
def any_pg_server(
    request: pytest.FixtureRequest, embedded_pg_url: str, system_pg_url: str | None
) -> tuple[str, int]:
    """Each PostgreSQL version the schema must work on: (server URL, expected major)."""
    if request.param == "pg18-embedded":
        return embedded_pg_url, 18
    if system_pg_url is None:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432 on this machine")
    return system_pg_url, 15


@pytest.fixture(scope="session")
def migrated_template(pg_server_url: str) -> Iterator[str]:
    """A database migrated to head once per session; tests get copies of it."""
    url = create_database(pg_server_url)
    migrate.upgrade(url)
    engine(url).dispose()  # a template must have no open connections
    name = url.rsplit("/", 1)[-1]
    yield name
    drop_database(url)


@pytest.fixture
def db_url(pg_server_url: str, migrated_template: str) -> Iterator[str]:
    """A fresh database at the current schema, private to one test."""
    url = create_database(pg_server_url, template=migrated_template)
    yield url
    engine(url).dispose()
    drop_database(url)


# Every platform config set: all actions are usable in plans.
CONFIGURED = {
    "platform.dap.base_url": "http://dap.local",
    "platform.middleware.base_url": "http://mw.local",
    "platform.gateway.base_url": "http://gw.local",
    "platform.iam.base_url": "http://iam.local",
    "platform.product.base_url": "http://product.local",
    "notification.webhooks": [{"name": "ops", "url": "http://chat.local/hook"}],
}


@pytest.fixture
def catalog_db(db_url: str) -> str:
    """A fresh database with the catalog synced and every platform config set."""
    run_tasks(db_url, INIT_TASKS, InitContext("0.1.0", "test", "test:1"))
    with session_factory(db_url)() as session:
        for key, value in CONFIGURED.items():
            session.execute(
                update(SystemConfig).where(SystemConfig.key == key).values(value={"value": value})
            )
        refresh_visibility(session)
        session.commit()
    return db_url


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    url = create_database(pg_server_url)
    yield url
    engine(url).dispose()
    drop_database(url)


# The test simulator's bearer token: tests look for it where it must never be.
SIMULATOR_TOKEN = f"sim-token-{uuid.uuid4().hex}"
PLATFORMS = ("dap", "middleware", "gateway", "iam", "product")


@pytest.fixture(scope="session")
def simulator_url() -> Iterator[str]:
    """The platform simulator, served over real HTTP for the whole session (quick orders)."""
    from simulator.app import create_app

    with serve(create_app(token=SIMULATOR_TOKEN, step_seconds=0.3)) as url:
        yield url


@pytest.fixture
def engine_db(catalog_db: str, simulator_url: str) -> str:
    """The catalog database with every platform and the chat webhook at the simulator."""
    httpx.post(f"{simulator_url}/admin/reset", timeout=10)
    point_at_simulator(catalog_db, simulator_url)
    return catalog_db


def point_at_simulator(db: str, simulator_url: str) -> None:
    """Every platform and the chat webhook of this database at the simulator (quick polls)."""
    values: dict[str, object] = {
        "notification.webhooks": [{"name": "ops", "url": f"{simulator_url}/chat/ops"}],
        "scale_out.poll_interval_seconds": 0.2,
    }
    for platform in PLATFORMS:
        values[f"platform.{platform}.base_url"] = simulator_url
        values[f"platform.{platform}.token"] = SIMULATOR_TOKEN
    with session_factory(db)() as session:
        for key, value in values.items():
            session.execute(
                update(SystemConfig).where(SystemConfig.key == key).values(value={"value": value})
            )
        refresh_visibility(session)
        session.commit()


async def sim(url: str, method: str, path: str, **kwargs: Any) -> Any:
    """A call to the simulator with its token; the JSON answer."""
    headers = {"Authorization": f"Bearer {SIMULATOR_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        response = await http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


# -- Temporal ----------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (heartbeat resume, schedules, process kills), with our profile."""
    env = await dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Say:
    """Print what a test checked, past pytest's capture (docs/reliability.md)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n    checked: {line}", flush=True)

    return write
