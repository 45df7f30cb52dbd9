"""The engine's database bookkeeping alone: what one execution of a 5-step plan costs the
worker (CPU) and takes (wall clock) to create, to record at its end, and to write its
nodes behind its steps. No Temporal: the activities' code called directly.

Run: `python -m bench.bookkeeping [--executions 200]`; results go to
bench/results/bookkeeping.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from activities.execution import ExecutionActivities
from bench.engine import apply, checkpoints
from bench.support import fresh_database, postgres_server, write_report
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from storage import migrate
from storage.enums import NodeState
from workflows.models import ExecutionInput, ExecutionRecord, ExecutionSnapshot, NodeRecord


@contextmanager
def clock(name: str, count: int, rows: list[str]) -> Iterator[None]:
    """Time the block (CPU of this process and wall clock); add its row, per execution."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows.append(f"| {name} | {cpu / count * 1000:.2f} | {wall / count * 1000:.2f} |")


def final_record(snapshot: ExecutionSnapshot) -> ExecutionRecord:
    now = datetime.now(UTC)
    nodes = [
        NodeRecord(
            node_id=node.node_id,
            state=NodeState.SUCCEEDED,
            params={},
            attempts=1,
            output={"ok": True},
            started_at=now,
            ended_at=now,
        )
        for node in snapshot.nodes
    ]
    return ExecutionRecord(
        execution_row=snapshot.execution_row, state="SUCCEEDED", ended=True, nodes=nodes
    )


async def node_writes(activities: ExecutionActivities, snapshots: list[ExecutionSnapshot]) -> None:
    """Each step's write-behind, ten executions' steps queued at a time (as under load)."""
    for number, snapshot in enumerate(snapshots, 1):
        for node in snapshot.nodes:
            now = datetime.now(UTC)
            activities._mark_later(
                node.node_id,
                state=NodeState.SUCCEEDED,
                attempts=1,
                output={"ok": True},
                error=None,
                started_at=now,
                ended_at=now,
            )
        if number % 10 == 0:
            await activities._nodes.drain()
    await activities._nodes.drain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=200)
    args = parser.parse_args()
    n = args.executions
    configure_logging(load_settings(log_level="WARNING"))
    with postgres_server() as server, fresh_database(server) as db:
        migrate.upgrade(db)
        run_tasks(db, INIT_TASKS, InitContext("bench", "bench", "bench:1"))
        apply(db, "five", checkpoints(5))
        activities = ExecutionActivities(db)

        def create() -> list[ExecutionSnapshot]:
            plan = ExecutionInput(plan="five")
            ids = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(n)]
            return [activities._create(execution, "bench", plan) for execution in ids]

        create()  # warm up: connections, the plan's template
        rows: list[str] = []
        with clock("create the execution and its 5 nodes", n, rows):
            created = create()
        with clock("final record (5 nodes, execution ended)", n, rows):
            for snapshot in created:
                activities.record_execution(final_record(snapshot))
        fresh = create()

        async def writes() -> None:
            await node_writes(activities, create()[:20])  # warm up the async pool
            with clock("node writes behind 5 steps", n, rows):
                await node_writes(activities, fresh)

        asyncio.run(writes())
    report = "\n".join(
        [
            f"bookkeeping benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{n} executions of a 5-step plan, worker process only",
            "",
            "| per execution | CPU ms | wall ms |",
            "| --- | ---: | ---: |",
            *rows,
        ]
    )
    write_report("bookkeeping", report)


if __name__ == "__main__":
    main()
