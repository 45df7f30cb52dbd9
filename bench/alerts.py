"""The alert intake beside raw Temporal, in the same run, on the stack's dev-server profile.

- latency: alert POSTed → the first step's activity started (median, p99 over N alerts),
  against a bare start of a one-activity workflow → its activity started (target: median
  at most 1.5x raw);
- sustained: 50 alerts/s for 60 s, every one a risk event and every routed one an
  execution or a recorded suppression (no loss).

Run: `python -m bench.alerts [--alerts 200] [--rate 50] [--seconds 60]`; results go to
bench/results/alerts.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw import RawFirstActivity, RawStepsWorkflow, noop
from bench.support import fresh_database, postgres_server, write_report
from intake.rules import RuleDoc, save_rule
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from plans import store
from plans.model import PlanDocument
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from runtime.worker import build_worker
from storage import migrate
from storage.db import session_factory
from storage.models import Execution, ExecutionNode, RiskEvent, SystemConfig
from tests.support import dev_server, free_port, wait_until

TOKEN = "bench-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def _alert(fingerprint: str) -> dict[str, Any]:
    return {
        "version": "4",
        "receiver": "bench",
        "status": "firing",
        "groupKey": "bench",
        "alerts": [
            {
                "status": "firing",
                "startsAt": "2026-11-27T08:00:00Z",
                "fingerprint": fingerprint,
                "labels": {"alertname": "BenchDown", "app": "loan-api"},
            }
        ],
    }


def _storm_limit(db: str, limit: int) -> None:
    with session_factory(db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "alerts.max_concurrent_per_plan")
            .values(value={"value": limit})
        )
        session.commit()


def _prepare(db: str) -> None:
    migrate.upgrade(db)
    run_tasks(db, INIT_TASKS, InitContext("bench", "bench", "bench:1"))
    _storm_limit(db, 1_000_000)
    with session_factory(db)() as session:
        store.apply(
            session,
            PlanDocument.model_validate(
                {
                    "name": "bench self recovery",
                    "scene": "SELF_RECOVERY",
                    "steps": [{"name": "s0", "action": "CHECKPOINT", "params": {"note": "x"}}],
                }
            ),
        )
        save_rule(
            session,
            RuleDoc.model_validate(
                {
                    "name": "bench",
                    "plan": "bench self recovery",
                    "match": [{"label": "alertname", "value": "BenchDown"}],
                    "params": {"1": {"note": "{labels.app}"}},
                }
            ),
        )
        session.commit()


def _first_step_started(db: str, executions: list[str]) -> dict[str, float]:
    with session_factory(db)() as session:
        rows = session.execute(
            select(Execution.execution_id, ExecutionNode.started_at)
            .join(ExecutionNode, ExecutionNode.execute_order_id == Execution.id)
            .where(Execution.execution_id.in_(executions), ExecutionNode.execute_order == 1)
        ).all()
    return {execution: started.timestamp() for execution, started in rows if started}


async def latency(
    intake: str, env: WorkflowEnvironment, db: str, count: int, gap: float
) -> tuple[list[float], list[float]]:
    ours: dict[str, float] = {}
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(count):
            sent = time.time()
            response = await http.post(
                f"{intake}/alerts/alertmanager", json=_alert(uuid.uuid4().hex), headers=headers
            )
            ours[response.json()["outcomes"][0]["execution_id"]] = sent
            await asyncio.sleep(gap)
    raw_latencies = await _raw_latencies(env, count, gap)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started_at = _first_step_started(db, list(ours))
        if len(started_at) == len(ours):
            break
        await asyncio.sleep(0.5)
    return [started_at[e] - ours[e] for e in ours if e in started_at], raw_latencies


async def _raw_latencies(env: WorkflowEnvironment, count: int, gap: float) -> list[float]:
    """A bare start of a one-activity workflow → the activity started (its own clock)."""
    latencies = []
    for _ in range(count):
        sent = time.time()
        handle = await env.client.start_workflow(
            RawFirstActivity.run, id=f"raw1-{uuid.uuid4().hex}", task_queue="raw"
        )
        latencies.append(await handle.result() - sent)
        await asyncio.sleep(gap)
    return latencies


async def sustained(intake: str, db: str, rate: int, seconds: int, tag: str) -> dict[str, Any]:
    total = rate * seconds
    statuses: list[int] = []
    took: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def one(index: int) -> None:
            started = time.perf_counter()
            try:
                response = await http.post(
                    f"{intake}/alerts/alertmanager", json=_alert(f"{tag}-{index}"), headers=AUTH
                )
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(0)
            took.append(time.perf_counter() - started)

        t0 = time.perf_counter()
        tasks = []
        for index in range(total):
            delay = t0 + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        sending = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        answered = time.perf_counter() - t0
    with session_factory(db)() as session:
        events = session.scalar(
            select(func.count())
            .select_from(RiskEvent)
            .where(RiskEvent.fingerprint.like(f"{tag}-%"))
        )
        by_outcome = dict(
            session.execute(
                select(RiskEvent.outcome, func.count())
                .where(RiskEvent.fingerprint.like(f"{tag}-%"))
                .group_by(RiskEvent.outcome)
            ).all()
        )
    took.sort()
    return {
        "sent": total,
        "ok": statuses.count(200),
        "other": len(statuses) - statuses.count(200),
        "sending_s": sending,
        "answered_s": answered,
        "events": events,
        "by_outcome": by_outcome,
        "p50_ms": took[len(took) // 2] * 1000,
        "p99_ms": took[int(len(took) * 0.99)] * 1000,
    }


@contextmanager
def intake_process(db: str, address: str) -> Iterator[str]:
    """The intake in a process of its own, as the stack runs it."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": address,
        "NIGHTWATCH_TASK_QUEUE": "ours",
        "NIGHTWATCH_ALERT_TOKENS": TOKEN,
        "NIGHTWATCH_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "nightwatch", "intake", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=60, what="the intake")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.05, help="pause between timed alerts")
    args = parser.parse_args()
    configure_logging(load_settings(log_level="WARNING"))
    with postgres_server() as server, fresh_database(server) as db:
        _prepare(db)
        env = await dev_server()
        address = env.client.service_client.config.target_host
        raw_worker = Worker(
            env.client,
            task_queue="raw",
            activities=[noop],
            workflows=[RawStepsWorkflow, RawFirstActivity],
        )
        try:
            with intake_process(db, address) as intake:
                async with raw_worker, build_worker(env.client, "ours", db):
                    await latency(intake, env, db, 5, args.gap)  # warm up
                    ours, raw = await latency(intake, env, db, args.alerts, args.gap)
                    # An alert storm as configured by default: storm control on (3 per plan).
                    _storm_limit(db, 3)
                    storm = await sustained(intake, db, args.rate, args.seconds, "storm")
                    # Every alert starting an execution: the engine behind the intake too.
                    _storm_limit(db, 1_000_000)
                    load = await sustained(intake, db, args.rate, args.seconds, "all")
        finally:
            await env.shutdown()
    o50, r50 = statistics.median(ours) * 1000, statistics.median(raw) * 1000
    lines = [
        f"alert intake benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, dev server with the stack's profile",
        "",
        "| measure | Nightwatch | raw Temporal | ratio (medians) | target |",
        "| --- | --- | --- | ---: | --- |",
        f"| alert received -> first step started, {len(ours)} alerts (ms) | median {o50:.1f}, "
        f"p99 {_pct(ours, 0.99):.1f} | median {r50:.1f}, p99 {_pct(raw, 0.99):.1f} | "
        f"{o50 / r50:.2f}x | median <= 1.5x |",
        "",
        *[
            f"sustained {args.rate} alerts/s for {args.seconds} s, {what}: {run['sent']} sent "
            f"in {run['sending_s']:.1f} s, all answered after {run['answered_s']:.1f} s; "
            f"{run['ok']} answered 200, {run['other']} otherwise; response p50 "
            f"{run['p50_ms']:.0f} ms, p99 {run['p99_ms']:.0f} ms; risk events {run['events']} "
            f"of {run['sent']}; outcomes {run['by_outcome']}"
            for what, run in (
                ("storm control on (3 per plan, the default)", storm),
                ("every alert starts an execution", load),
            )
        ],
    ]
    report = "\n".join(lines)
    write_report("alerts", report)


if __name__ == "__main__":
    asyncio.run(main())
