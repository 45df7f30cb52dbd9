"""The engine beside raw Temporal, in the same run, on the stack's dev-server profile.

The fair comparison is the default: raw Temporal runs on the same workflow runner as
Nightwatch (unsandboxed, as production runs); `--raw-sandboxed` measures against the SDK's
default (sandboxed) runner instead, as the first figures did. Each side's worker runs in
a process of its own (bench/worker_process.py), as production runs workers apart from
the API and the intake that start executions, so worker CPU is the worker's alone; this
process starts the executions (Nightwatch's through the execution service, as the API
does: rows first) and its CPU is reported as the starter's.

- per-step cost of a 50-step plan of no-op (CHECKPOINT) steps (target <= 1.2x raw);
- throughput of 200 concurrent 5-step executions (target >= 0.85x raw), with the worker
  CPU per execution (target <= 1.3x raw);
- confirmation signal -> next step started (target: below raw's);
- worker memory with 2,000 executions waiting for confirmation (target < 300 MB).

Run: `python -m bench.engine [--rounds 5]`; results go to bench/results/engine.md.
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psutil
from sqlalchemy import select
from temporalio.client import Client

from bench.raw import RawSignalWorkflow, RawStepsWorkflow
from bench.support import cpu_seconds, fresh_database, postgres_server, write_report
from executions.service import Executions
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from plans import store
from plans.model import PlanDocument
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from storage import migrate
from storage.db import session_factory
from storage.models import Execution, ExecutionNode
from tests.support import dev_server
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision, ExecutionInput


def apply(db: str, name: str, steps: list[dict[str, Any]]) -> str:
    with session_factory(db)() as session:
        store.apply(
            session,
            PlanDocument.model_validate({"name": name, "scene": "EMERGENCY", "steps": steps}),
        )
        session.commit()
    return name


def checkpoints(n: int, gate: bool = False) -> list[dict[str, Any]]:
    first = {"strategy": {"preConfirm": True}} if gate else {}
    return [
        {"name": f"s{i}", "action": "CHECKPOINT", **(first if i == 0 else {})} for i in range(n)
    ]


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


def ident() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


async def run_ours(service: Executions, plan: str) -> Any:
    """An execution started as the API starts one (rows made first), to its end."""
    execution = await service.start(ExecutionInput(plan=plan), ident())
    return await service.client.get_workflow_handle(execution).result()


async def per_step(
    client: Client, service: Executions, raw_q: str, rounds: int
) -> tuple[list[float], list[float]]:
    ours, raw = [], []
    for _ in range(rounds):
        ours.append(await timed(lambda: run_ours(service, "fifty")) / 50)
        raw.append(
            await timed(
                lambda: client.execute_workflow(
                    RawStepsWorkflow.run, 50, id=ident(), task_queue=raw_q
                )
            )
            / 50
        )
    return ours, raw


CpuSplit = dict[str, list[float]]
WORKER_PIDS: dict[str, int] = {}  # side -> its worker process (bench/worker_process.py)


@contextmanager
def workers(address: str, db: str, raw_sandboxed: bool) -> Iterator[None]:
    """Each side's worker in a process of its own, polling "ours" and "raw"."""
    started = []
    try:
        for side in ("ours", "raw"):
            command = [sys.executable, "-m", "bench.worker_process", side, side, address, db]
            if raw_sandboxed:
                command.append("--raw-sandboxed")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            started.append(process)
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.strip() == "ready", f"the {side} worker did not start: {line!r}"
            WORKER_PIDS[side] = process.pid
        yield
    finally:
        for process in started:
            process.terminate()
            process.wait(60)


async def throughput(
    client: Client, service: Executions, raw_q: str, rounds: int
) -> tuple[list[float], list[float], CpuSplit, CpuSplit]:
    """Executions per second, and the CPU seconds each part of the machine spent per batch."""
    cpu: tuple[CpuSplit, CpuSplit] = ({}, {})

    async def batch(start: Callable[[], Awaitable[Any]], side: int) -> float:
        worker = WORKER_PIDS["ours" if side == 0 else "raw"]
        before = cpu_seconds(worker)
        seconds = await timed(lambda: asyncio.gather(*[start() for _ in range(200)]))
        for part, used in cpu_seconds(worker).items():
            cpu[side].setdefault(part, []).append(used - before[part])
        return 200 / seconds

    async def ours_batch() -> None:
        ours.append(await batch(lambda: run_ours(service, "five"), 0))

    async def raw_batch() -> None:
        raw.append(
            await batch(
                lambda: client.execute_workflow(
                    RawStepsWorkflow.run, 5, id=ident(), task_queue=raw_q
                ),
                1,
            )
        )

    ours: list[float] = []
    raw: list[float] = []
    for number in range(rounds):
        # The dev server slows as closed executions pile up (raw alone: 21 -> 11 /s over
        # four rounds), so the side that goes second loses: they take turns going first.
        for side in (ours_batch, raw_batch) if number % 2 == 0 else (raw_batch, ours_batch):
            await side()
    return ours, raw, *cpu


async def signal_latency(
    client: Client, db: str, ours_q: str, raw_q: str, rounds: int
) -> tuple[list[float], list[float]]:
    ours, raw = [], []
    for _ in range(rounds):
        handle = await client.start_workflow(
            PlanExecutionWorkflow.run, ExecutionInput(plan="gate"), id=ident(), task_queue=ours_q
        )
        while (await handle.query(PlanExecutionWorkflow.get_state)).waiting_for is None:  # noqa: ASYNC110 - polling the workflow
            await asyncio.sleep(0.05)
        sent = time.time()
        await handle.signal(PlanExecutionWorkflow.decide, Decision(node="1", user="bench"))
        await handle.result()
        with session_factory(db)() as session:
            started = session.scalar(
                select(ExecutionNode.started_at)
                .join(Execution, Execution.id == ExecutionNode.execute_order_id)
                .where(Execution.execution_id == handle.id, ExecutionNode.execute_order == 1)
            )
        assert started is not None
        ours.append(started.timestamp() - sent)
        raw_handle = await client.start_workflow(
            RawSignalWorkflow.run, id=ident(), task_queue=raw_q
        )
        await asyncio.sleep(0.3)  # the raw workflow is parked on its signal
        sent = time.time()
        await raw_handle.signal(RawSignalWorkflow.confirm)
        raw.append(await raw_handle.result() - sent)
    return ours, raw


async def memory(client: Client, address: str, db: str, waiting: int) -> tuple[float, int]:
    """The worker's RSS once `waiting` executions wait for confirmation (and how many did)."""
    queue = f"mem-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": address,
        "NIGHTWATCH_TASK_QUEUE": queue,
        "NIGHTWATCH_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "nightwatch", "worker"]
    worker = subprocess.Popen(command, env=env)  # noqa: ASYNC220 - a worker process to measure
    try:
        handles = []
        for chunk in range(0, waiting, 100):
            handles += await asyncio.gather(
                *[
                    client.start_workflow(
                        PlanExecutionWorkflow.run,
                        ExecutionInput(plan="gate"),
                        id=ident(),
                        task_queue=queue,
                    )
                    for _ in range(min(100, waiting - chunk))
                ]
            )
        deadline = time.monotonic() + 600
        parked = 0
        while time.monotonic() < deadline:
            with session_factory(db)() as session:
                parked = (
                    session.query(ExecutionNode)
                    .filter(ExecutionNode.state == "WAITING_CONFIRMATION")
                    .count()
                )
            if parked >= waiting:
                break
            await asyncio.sleep(1)
        return float(psutil.Process(worker.pid).memory_info().rss / 2**20), parked
    finally:
        worker.terminate()
        worker.wait(60)


def row(
    name: str,
    ours: list[float],
    raw: list[float],
    unit: str,
    scale: float,
    target: str,
) -> str:
    o, r = statistics.median(ours), statistics.median(raw)
    ratio = o / r

    def fmt(xs: list[float]) -> str:
        low, mid, high = min(xs) * scale, statistics.median(xs) * scale, max(xs) * scale
        return f"{low:.1f} / {mid:.1f} / {high:.1f}"

    return f"| {name} ({unit}) | {fmt(ours)} | {fmt(raw)} | {ratio:.2f}x | {target} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument(
        "--throughput-rounds",
        type=int,
        help="rounds of the throughput batches (default: --rounds); more steady the CPU ratio",
    )
    parser.add_argument("--only", choices=["steps", "throughput", "signal", "memory"])
    parser.add_argument(
        "--raw-sandboxed",
        action="store_true",
        help="run the raw baseline in the SDK's sandbox (its default) instead of unsandboxed "
        "as Nightwatch's workflow runs",
    )
    args = parser.parse_args()
    configure_logging(load_settings(log_level="WARNING"))
    with postgres_server() as server, fresh_database(server) as db:
        migrate.upgrade(db)
        run_tasks(db, INIT_TASKS, InitContext("bench", "bench", "bench:1"))
        apply(db, "fifty", checkpoints(50))
        apply(db, "five", checkpoints(5))
        apply(db, "gate", checkpoints(2, gate=True))
        env = await dev_server()
        client = env.client
        address = client.service_client.config.target_host
        service = Executions(client, "ours", database_url=db)
        try:
            want = {args.only} if args.only else {"steps", "throughput", "signal", "memory"}
            rows: list[str] = []
            cpu: list[CpuSplit] = [{}, {}]
            with workers(address, db, args.raw_sandboxed):
                await per_step(client, service, "raw", 1)  # warm up both
                if "steps" in want:
                    steps = await per_step(client, service, "raw", args.rounds)
                    rows.append(row("per step, 50-step plan", *steps, "ms", 1000, "<= 1.2x"))
                if "throughput" in want:
                    rounds = args.throughput_rounds or args.rounds
                    ours, raw, *cpu = await throughput(client, service, "raw", rounds)
                    rows.append(
                        row(
                            "throughput, 200 x 5-step executions",
                            ours,
                            raw,
                            "executions/s",
                            1,
                            ">= 0.85x",
                        )
                    )
                    rows.append(
                        row(
                            "worker CPU per execution",
                            [used / 200 for used in cpu[0]["worker"]],
                            [used / 200 for used in cpu[1]["worker"]],
                            "ms",
                            1000,
                            "<= 1.3x",
                        )
                    )
                if "signal" in want:
                    signal = await signal_latency(client, db, "ours", "raw", args.rounds)
                    rows.append(
                        row(
                            "confirmation signal -> next step started",
                            *signal,
                            "ms",
                            1000,
                            "< 1x",
                        )
                    )
            rss, parked = 0.0, 0
            if "memory" in want:
                rss, parked = await memory(client, address, db, args.waiting)
        finally:
            await env.shutdown()
    lines = [
        f"engine benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {args.rounds} rounds, dev server with the stack's profile; "
        f"Nightwatch's workflow unsandboxed, raw "
        f"{'with the SDK defaults (sandboxed)' if args.raw_sandboxed else 'unsandboxed too'}",
    ]
    if rows:
        lines += [
            "",
            "| measure | Nightwatch min / median / max | raw Temporal min / median / max "
            "| ratio (medians) | target |",
            "| --- | --- | --- | ---: | --- |",
            *rows,
        ]
    if cpu[0]:
        paired = [o / r for o, r in zip(cpu[0]["worker"], cpu[1]["worker"], strict=True)]
        lines += [
            "",
            "Worker CPU per batch, round by round (the two sides' batches of a round run one "
            "right after the other, so each round's ratio compares them on the same machine "
            "state): Nightwatch "
            + ", ".join(f"{x:.2f}" for x in cpu[0]["worker"])
            + " s; raw "
            + ", ".join(f"{x:.2f}" for x in cpu[1]["worker"])
            + " s; ratios "
            + ", ".join(f"{x:.2f}" for x in paired)
            + f"; median of the rounds' ratios {statistics.median(paired):.2f}x",
            "",
            "CPU seconds per batch of 200 executions (medians): "
            + "; ".join(
                f"{side}: "
                + ", ".join(f"{part} {statistics.median(used):.1f}" for part, used in split.items())
                for side, split in (("Nightwatch", cpu[0]), ("raw", cpu[1]))
            ),
        ]
    if "memory" in want:
        lines += [
            "",
            f"worker RSS with {args.waiting} executions waiting for confirmation ({parked} "
            f"counted waiting in the database when measured): {rss:.0f} MB "
            "(target < 300 MB)",
        ]
    report = "\n".join(lines)
    name = "engine" + (f"-{args.only}" if args.only else "")
    name += f"-{args.waiting}" if args.only == "memory" else ""
    name += "-raw-sandboxed" if args.raw_sandboxed else ""
    write_report(name, report)


if __name__ == "__main__":
    asyncio.run(main())
