"""Entry point of a worker process: `python worker.py` is `nightwatch worker`."""

import asyncio

from nightwatch.config import load_settings
from nightwatch.worker_runtime import run_worker

if __name__ == "__main__":
    asyncio.run(run_worker(load_settings()))
