"""History size: events per atomic step, and the largest plan that completes.

Runs plans of N no-op (CHECKPOINT) steps on the dev server with the stack's profile, N
doubling from 250 until a run fails, exceeds Temporal's history limits (51,200 events /
50 MB per history, warnings from 10,240 events), or N reaches --max-steps. Prints events,
events per step, history bytes and wall time per size.

Run: `python -m bench.history [--max-steps 8000]`; results go to bench/results/history.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from datetime import UTC, datetime

from bench.engine import apply, checkpoints
from bench.support import fresh_database, postgres_server, write_report
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from runtime.worker import build_worker
from storage import migrate
from tests.support import dev_server
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionInput

HISTORY_EVENT_LIMIT = 51_200


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-steps", type=int, default=8000)
    args = parser.parse_args()
    configure_logging(load_settings(log_level="WARNING"))
    rows: list[str] = []
    largest = 0
    with postgres_server() as server, fresh_database(server) as db:
        migrate.upgrade(db)
        run_tasks(db, INIT_TASKS, InitContext("bench", "bench", "bench:1"))
        env = await dev_server()
        try:
            async with build_worker(env.client, "history", db):
                steps = 250
                while steps <= args.max_steps:
                    name = apply(db, f"plan of {steps}", checkpoints(steps))
                    started = time.perf_counter()
                    handle = await env.client.start_workflow(
                        PlanExecutionWorkflow.run,
                        ExecutionInput(plan=name),
                        id=f"history-{steps}-{uuid.uuid4().hex[:6]}",
                        task_queue="history",
                    )
                    try:
                        result = await asyncio.wait_for(handle.result(), 1800)
                        outcome = result.state
                    except Exception as exc:  # a failed size ends the search
                        outcome = f"failed: {type(exc).__name__}: {exc}"[:120]
                    seconds = time.perf_counter() - started
                    history = await handle.fetch_history()
                    size = len(history.to_json())
                    events = len(history.events)
                    rows.append(
                        f"| {steps} | {outcome} | {events} | {events / steps:.2f} | "
                        f"{size / 1e6:.1f} | {seconds:.1f} |"
                    )
                    print(rows[-1], flush=True)
                    if outcome != "SUCCEEDED":
                        break
                    largest = steps
                    steps *= 2
        finally:
            await env.shutdown()
    lines = [
        f"history benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, dev server with the stack's profile",
        "",
        "| steps | outcome | events | events per step | history MB (JSON) | seconds |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"largest plan completed: {largest} steps (Temporal's hard limit is "
        f"{HISTORY_EVENT_LIMIT} events per history)",
    ]
    report = "\n".join(lines)
    write_report("history", report)


if __name__ == "__main__":
    asyncio.run(main())
