"""Inspection benchmark: one run of N HTTP checks against local servers that answer after
50 ms, at concurrency 100, against a bare asyncio + httpx loop doing the same requests
with the same concurrency, measured in the same run; the worker's RSS and the Temporal
history events per check; then a sustained load (a plan every minute) with missed runs.

    python -m bench.inspection                       # 2,000 checks, 5 rounds each side
    python -m bench.inspection --sustain-minutes 10  # + 5,000 checks a minute for 10 min

The targets are a separate process (an asyncio HTTP server, 50 ms per answer) and the
worker another (`nightwatch worker`), so each is measured alone.
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
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from temporalio.client import Client

from bench.support import fresh_database, postgres_server, write_report
from executions.inspections import Inspections
from inspection.model import parse_document
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from storage import migrate
from storage.db import session_factory
from tests.support import dev_server, free_port
from workflows.inspection import RunSummary

LATENCY = 0.05
SERVER = """
import asyncio, sys
async def answer(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            if not head:
                break
            await asyncio.sleep(LATENCY)
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                         b"Content-Length: 15\\r\\n\\r\\n{\\"status\\":\\"UP\\"}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main(port):
    server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main(int(sys.argv[1])))
""".replace("LATENCY", str(LATENCY))


def targets_process() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process, f"http://127.0.0.1:{port}"


async def bare_loop(urls: list[str], concurrency: int, clients: int = 1) -> float:
    """The baseline: asyncio + httpx, a semaphore of `concurrency`, status checked; with
    one client (as such a loop is written) or `clients` taken in turn (as the probes do)."""
    room = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    https = [httpx.AsyncClient(limits=limits, timeout=10) for _ in range(clients)]
    try:

        async def one(index: int, url: str) -> bool:
            async with room:
                response = await https[index % clients].get(url)
                return response.status_code == 200

        started = time.perf_counter()
        results = await asyncio.gather(*(one(i, url) for i, url in enumerate(urls)))
        elapsed = time.perf_counter() - started
    finally:
        for http in https:
            await http.aclose()
    assert all(results)
    return elapsed


def plan(name: str, base: str, checks: int, every: str = "1h") -> dict[str, Any]:
    return {
        "format": "nightwatch/inspection/v1",
        "name": name,
        "schedule": {"every": every},
        "limits": {"concurrency": 100, "per_target": 100, "batch": 2000},
        "checks": [
            {
                "name": "svc",
                "kind": "http",
                "params": {"url": f"{base}/x"},
                "conditions": ["status == 200", "json.status == UP"],
                "targets": [{"url": f"{base}/svc/{i}"} for i in range(checks)],
            }
        ],
    }


def worker_process(address: str, db: str, queue: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": address,
        "NIGHTWATCH_TASK_QUEUE": queue,
        "NIGHTWATCH_LOG_LEVEL": "WARNING",
        "NIGHTWATCH_ARCHIVE_INTERVAL_SECONDS": "3600",
    }
    return subprocess.Popen([sys.executable, "-m", "nightwatch", "worker"], env=env)


async def wait_polling(client: Client, queue: str) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        if described.pollers:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("the worker never polled")


async def one_run(
    service: Inspections, client: Client, name: str, db: str = ""
) -> tuple[float, int, int]:
    started = time.perf_counter()
    run = await service.run_now(name, "bench")
    handle = client.get_workflow_handle(run["workflow_id"], result_type=RunSummary)
    summary = await handle.result()
    elapsed = time.perf_counter() - started
    if summary.passed != summary.checks and db:
        from sqlalchemy import text

        with session_factory(db)() as session:
            failures = session.execute(
                text(
                    "select failures from inspection_result where run_id = :r and outcome <> 'PASS'"
                ),
                {"r": summary.run_id},
            ).all()
        print("not passed:", [f[0] for f in failures][:5])
    assert summary.passed == summary.checks, summary
    events = 0
    marks = []
    async for event in handle.fetch_history_events():
        events += 1
        kind = event.WhichOneof("attributes") or ""
        if "activity_task" in kind and ("scheduled" in kind or "completed" in kind):
            marks.append((event.event_time.ToDatetime(), kind.replace("_event_attributes", "")))
    if os.environ.get("BENCH_TRACE") and marks:
        first = marks[0][0]
        print([(round((t - first).total_seconds(), 2), k) for t, k in marks])
    return elapsed, events, summary.checks


async def sustained(
    service: Inspections, db: str, base: str, checks: int, minutes: int
) -> dict[str, Any]:
    """A plan of `checks` checks every minute for `minutes` minutes: runs, missed, time."""
    from sqlalchemy import text

    name = f"sustain-{uuid.uuid4().hex[:6]}"
    await service.apply(parse_document(plan(name, base, checks, every="1m")), "bench")
    started = datetime.now(UTC)
    await asyncio.sleep(minutes * 60 + 30)
    await service.pause(name, "benchmark over", "bench")
    shown = await service.describe(name)
    with session_factory(db)() as session:
        rows = session.execute(
            text(
                "select checks, extract(epoch from ended_at - started_at) as seconds "
                "from inspection_run r join inspection_plan p on p.id = r.plan_id "
                "where p.name = :n and r.state = 'COMPLETED' and r.started_at >= :s"
            ),
            {"n": name, "s": started},
        ).all()
    return {
        "runs": len(rows),
        "checks": sum(r.checks for r in rows),
        "longest_s": max((float(r.seconds) for r in rows), default=0.0),
        "missed": shown["schedule"]["missed_catchup_window"],
        "skipped": shown["schedule"]["skipped_overlap"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sustain-minutes", type=int, default=0)
    parser.add_argument("--sustain-checks", type=int, default=5000)
    args = parser.parse_args()
    configure_logging(load_settings(log_level="WARNING"))
    targets, base = targets_process()
    try:
        with postgres_server() as server, fresh_database(server) as db:
            migrate.upgrade(db)
            run_tasks(db, INIT_TASKS, InitContext("bench", "bench", "bench:1"))
            env = await dev_server()
            address = env.client.service_client.config.target_host
            queue = f"bench-{uuid.uuid4().hex[:6]}"
            worker = worker_process(address, db, queue)
            try:
                await wait_polling(env.client, queue)
                service = Inspections(env.client, queue, database_url=db)
                name = f"bench-{uuid.uuid4().hex[:6]}"
                await service.apply(parse_document(plan(name, base, args.checks)), "bench")
                urls = [f"{base}/svc/{i}" for i in range(args.checks)]
                await bare_loop(urls[:200], 100)  # warm both up
                await one_run(service, env.client, name, db)
                ours, bare, sharded, events, rss = [], [], [], 0, 0.0
                for _ in range(args.rounds):
                    bare.append(await bare_loop(urls, 100))
                    sharded.append(await bare_loop(urls, 100, clients=32))
                    elapsed, events, _checks = await one_run(service, env.client, name, db)
                    ours.append(elapsed)
                    rss = max(rss, psutil.Process(worker.pid).memory_info().rss / 2**20)
                load = {}
                if args.sustain_minutes:
                    load = await sustained(
                        service, db, base, args.sustain_checks, args.sustain_minutes
                    )
                peak = _peak_rss_mb(worker.pid)
            finally:
                worker.terminate()
                worker.wait(60)
                await env.shutdown()
    finally:
        targets.terminate()
        targets.wait(30)
    o, b, s = statistics.median(ours), statistics.median(bare), statistics.median(sharded)
    lines = [
        f"inspection benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {args.rounds} rounds; targets answer after "
        f"{LATENCY * 1000:.0f} ms (a process of their own), concurrency 100",
        "",
        "| measure | Nightwatch run | bare asyncio + httpx | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| {args.checks} HTTP checks, s (min / median / max) | "
        f"{min(ours):.2f} / {o:.2f} / {max(ours):.2f} | "
        f"{min(bare):.2f} / {b:.2f} / {max(bare):.2f} | {o / b:.2f}x | <= 1.5x |",
        f"| the same, the loop with 32 clients as the probes use | "
        f"{min(ours):.2f} / {o:.2f} / {max(ours):.2f} | "
        f"{min(sharded):.2f} / {s:.2f} / {max(sharded):.2f} | {o / s:.2f}x | <= 1.5x |",
        "",
        f"- Temporal history events of one run: {events} ({events / args.checks:.3f} per check)",
        f"- worker RSS: {rss:.0f} MB after the runs, peak {peak:.0f} MB",
    ]
    if load:
        per_minute = load["checks"] / max(1, args.sustain_minutes)
        lines.append(
            f"- sustained: {args.sustain_checks} checks every minute for "
            f"{args.sustain_minutes} min: {load['runs']} runs, {load['checks']} checks "
            f"({per_minute:.0f} a minute), longest run {load['longest_s']:.1f} s, "
            f"missed {load['missed']}, skipped (overlap) {load['skipped']}"
        )
    write_report("inspection", "\n".join(lines))


def _peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    asyncio.run(main())
