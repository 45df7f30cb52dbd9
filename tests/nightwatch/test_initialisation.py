"""Initialisation strategies with real processes on one database: exactly once, crash-safe."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from temporalio.testing import WorkflowEnvironment

from catalog.actions import ACTIONS
from catalog.feature_switches import FEATURE_SWITCHES
from catalog.system_config import SYSTEM_CONFIGS
from nightwatch.config import load_settings
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import (
    InitContext,
    InitError,
    InitTask,
    _lock_key,
    run_tasks,
)
from stack.health import worker_pollers
from storage.db import engine, session_factory
from storage.enums import InitStrategy
from storage.models import FeatureSwitch, InitTaskRun, PlanAction, SystemConfig
from tests.support import libpq_url, wait_until, wait_until_async


def _runs(url: str) -> Counter[tuple[str, str]]:
    with session_factory(url)() as session:
        rows = session.execute(
            select(InitTaskRun.task, InitTaskRun.state).where(InitTaskRun.state == "SUCCEEDED")
        ).all()
    return Counter((task, state) for task, state in rows)


def _worker_env(
    url: str, dev_env: WorkflowEnvironment, queue: str, deployment: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env.update(
        DATABASE_URL=url,
        NIGHTWATCH_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        NIGHTWATCH_TASK_QUEUE=queue,
        NIGHTWATCH_DEPLOYMENT=deployment,
        NIGHTWATCH_LOG_FORMAT="json",
    )
    return env


async def _start_three_workers(
    url: str, dev_env: WorkflowEnvironment, queue: str, deployment: str
) -> list[subprocess.Popen[bytes]]:
    env = _worker_env(url, dev_env, queue, deployment)
    logs = [tempfile.TemporaryFile() for _ in range(3)]  # noqa: SIM115 - read after the test
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - plain processes, waited on below with a bound
            [sys.executable, "-m", "nightwatch", "worker"], env=env, stdout=log, stderr=log
        )
        for log in logs
    ]
    WORKER_LOGS.update(zip((w.pid for w in workers), logs, strict=True))
    settings = load_settings(task_queue=queue, temporal_namespace=dev_env.client.namespace)
    pids = {f":{worker.pid}" for worker in workers}

    async def all_registered() -> bool:
        for worker in workers:
            if worker.poll() is not None:
                raise AssertionError(_log_of(worker))
        identities = await worker_pollers(dev_env.client, settings)
        return pids <= {identity[identity.rindex(":") :] for identity in identities}

    await wait_until_async(all_registered, within=120, what="three workers polling")
    return workers


WORKER_LOGS: dict[int, Any] = {}


def _log_of(worker: subprocess.Popen[bytes]) -> str:
    log = WORKER_LOGS[worker.pid]
    log.seek(0)
    return str(log.read().decode(errors="replace")[-3000:])


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=60) == 0, _log_of(worker)


@pytest.mark.slow
async def test_three_workers_at_once_run_each_task_by_its_strategy(
    empty_db_url: str, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    url = empty_db_url
    _stop(await _start_three_workers(url, dev_env, task_queue, "deploy-1"))
    assert _runs(url) == Counter(
        {
            ("installation_id", "SUCCEEDED"): 1,
            ("system_config", "SUCCEEDED"): 1,
            ("feature_switches", "SUCCEEDED"): 1,
            ("action_catalog", "SUCCEEDED"): 1,
            ("check_kinds", "SUCCEEDED"): 1,
            ("database_check", "SUCCEEDED"): 3,
        }
    )
    _stop(await _start_three_workers(url, dev_env, task_queue, "deploy-2"))
    assert _runs(url) == Counter(
        {
            ("installation_id", "SUCCEEDED"): 1,
            ("system_config", "SUCCEEDED"): 2,
            ("feature_switches", "SUCCEEDED"): 2,
            ("action_catalog", "SUCCEEDED"): 2,
            ("check_kinds", "SUCCEEDED"): 2,
            ("database_check", "SUCCEEDED"): 6,
        }
    )
    with session_factory(url)() as session:
        assert session.query(PlanAction).count() == len(ACTIONS)
        assert session.query(SystemConfig).count() == len(SYSTEM_CONFIGS)
        assert session.query(FeatureSwitch).count() == len(FEATURE_SWITCHES)


def test_sigkill_in_the_middle_of_a_sync_is_completed_by_the_next_start(db_url: str) -> None:
    run_tasks(db_url, INIT_TASKS, InitContext("0.1.0", "deploy-1", "first:1"))
    with engine(db_url).begin() as conn:
        conn.execute(text("update pre_plan_action set name = 'stale', definition_hash = 'x'"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env.update(DATABASE_URL=db_url, NIGHTWATCH_DEPLOYMENT="deploy-2")
    last = ACTIONS[-1].code
    # Hold the last action's row: the sync updates the rows before it, then blocks here.
    with psycopg.connect(libpq_url(db_url)) as blocker:
        blocker.execute("select 1 from pre_plan_action where code = %s for update", (last,))
        victim = subprocess.Popen(
            [sys.executable, "-m", "nightwatch", "init", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with psycopg.connect(libpq_url(db_url), autocommit=True) as watcher:
            wait_until(
                lambda: bool(
                    watcher.execute(
                        "select 1 from pg_stat_activity where wait_event_type = 'Lock'"
                        " and query like 'UPDATE pre_plan_action%'"
                    ).fetchone()
                ),
                timeout=60,
                what="the sync to block mid-way",
            )
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        blocker.rollback()
    with session_factory(db_url)() as session:
        names = set(session.scalars(select(PlanAction.name)))
        dead = session.scalar(
            select(InitTaskRun.state).where(
                InitTaskRun.task == "action_catalog", InitTaskRun.deployment == "deploy-2"
            )
        )
    assert names == {"stale"}, "a killed sync must leave nothing half-written"
    assert dead == "RUNNING"

    outcomes = run_tasks(db_url, INIT_TASKS, InitContext("0.1.0", "deploy-2", "next:2"))
    assert {o.task for o in outcomes if o.ran} >= {"action_catalog"}
    with session_factory(db_url)() as session:
        assert "stale" not in set(session.scalars(select(PlanAction.name)))
        runs = session.execute(
            select(InitTaskRun.state, InitTaskRun.error)
            .where(InitTaskRun.task == "action_catalog", InitTaskRun.deployment == "deploy-2")
            .order_by(InitTaskRun.id)
        ).all()
    assert [state for state, _ in runs] == ["FAILED", "SUCCEEDED"]
    assert "taken over by next:2" in (runs[0][1] or "")


def _failing(session: Session, context: InitContext) -> dict[str, Any]:
    session.add(FeatureSwitch(name="half-written", enabled=True))
    session.flush()
    raise RuntimeError("platform config unreadable")


def test_failed_task_is_recorded_and_writes_nothing(db_url: str) -> None:
    task = InitTask("fragile", InitStrategy.ONCE_PER_DEPLOYMENT, _failing)
    with pytest.raises(InitError) as caught:
        run_tasks(db_url, [task], InitContext("0.1.0", "d", "s:1"))
    assert "init task fragile" in str(caught.value)
    assert "platform config unreadable" in str(caught.value)
    with session_factory(db_url)() as session:
        assert (
            session.scalar(select(FeatureSwitch).where(FeatureSwitch.name == "half-written"))
            is None
        )
        run = session.scalar(select(InitTaskRun).where(InitTaskRun.task == "fragile"))
        assert run is not None
        assert (run.state, run.error) == ("FAILED", "platform config unreadable")
    # A later start retries it (and here succeeds).
    ok = InitTask("fragile", InitStrategy.ONCE_PER_DEPLOYMENT, lambda s, c: {"ok": True})
    assert run_tasks(db_url, [ok], InitContext("0.1.0", "d", "s:2"))[0].ran


def test_waiting_for_another_server_is_bounded_and_names_it(db_url: str) -> None:
    task = InitTask("slow", InitStrategy.ONCE_PER_DEPLOYMENT, lambda s, c: None)
    with psycopg.connect(libpq_url(db_url), autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s)", (_lock_key("slow", "d"),))
        other.execute(
            "insert into init_task_run (task, strategy, deployment, server, state)"
            " values ('slow', 'ONCE_PER_DEPLOYMENT', 'd', 'other-host:77', 'RUNNING')"
        )
        with pytest.raises(InitError) as caught:
            run_tasks(db_url, [task], InitContext("0.1.0", "d", "me:1"), wait_seconds=1)
    assert "waited 1s for server other-host:77" in str(caught.value)


def test_every_server_task_runs_each_time_and_once_tasks_do_not(db_url: str) -> None:
    counter = {"every": 0, "once": 0, "ever": 0}

    def bump(name: str) -> Any:
        return lambda s, c: counter.__setitem__(name, counter[name] + 1)

    tasks = [
        InitTask("t-every", InitStrategy.EVERY_SERVER, bump("every")),
        InitTask("t-once", InitStrategy.ONCE_PER_DEPLOYMENT, bump("once")),
        InitTask("t-ever", InitStrategy.ONCE_EVER, bump("ever")),
    ]
    for deployment in ("d1", "d1", "d2"):
        outcomes = run_tasks(db_url, tasks, InitContext("0.1.0", deployment, "s:1"))
    assert counter == {"every": 3, "once": 2, "ever": 1}
    assert [o.ran for o in outcomes] == [True, True, False]
    assert outcomes[2].done_by == "s:1"


async def test_default_deployment_is_version_plus_catalog_fingerprint() -> None:
    from runtime.initialisation import default_context

    context = default_context(None)
    assert context.deployment.startswith("0.1.0+")
    assert default_context("release-42").deployment == "release-42"
    await asyncio.sleep(0)
