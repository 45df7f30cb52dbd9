"""A worker of one side of the engine benchmark, in a process of its own (as production
runs workers apart from whatever starts executions), so its CPU is measured alone.

Run by bench/engine.py: `python -m bench.worker_process ours|raw QUEUE ADDRESS DATABASE`.
Prints `ready` once polling; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.raw import RawSignalWorkflow, RawStepsWorkflow, noop
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from nightwatch.temporal import data_converter
from runtime.worker import build_worker, settle_memory


async def main(side: str, queue: str, address: str, db: str, raw_sandboxed: bool) -> None:
    configure_logging(load_settings(log_level="WARNING"))
    client = await Client.connect(address, data_converter=data_converter())
    if side == "ours":
        worker = build_worker(client, queue, db)
    else:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[RawStepsWorkflow, RawSignalWorkflow],
            activities=[noop],
            workflow_runner=SandboxedWorkflowRunner()
            if raw_sandboxed
            else UnsandboxedWorkflowRunner(),
        )
    if side == "ours":
        settle_memory()  # as `serve` does in production (raw keeps the SDK's defaults)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    side, queue, address, db = sys.argv[1:5]
    asyncio.run(main(side, queue, address, db, "--raw-sandboxed" in sys.argv))
