"""Shared by benchmarks: a throwaway PostgreSQL database and a min/median/max table."""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from stack.postgres import EmbeddedPostgres
from tests.support import create_database, drop_database, free_port


@contextmanager
def postgres_server() -> Iterator[str]:
    """NIGHTWATCH_BENCH_DATABASE_URL's server, else an embedded PostgreSQL 18."""
    given = os.environ.get("NIGHTWATCH_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory() as home:
        server = EmbeddedPostgres(Path(home) / "data", free_port(), Path(home) / "pg.log")
        server.start()
        try:
            yield server.url("postgres")
        finally:
            server.stop()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    url = create_database(server_url)
    try:
        yield url
    finally:
        from storage.db import engine

        engine(url).dispose()
        drop_database(url)


RESULTS = Path(__file__).parent / "results"


def write_report(name: str, report: str) -> None:
    """Print a benchmark's report and keep it as bench/results/<name>.md."""
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report + "\n")


def row(name: str, samples: list[float], target: str = "") -> str:
    ms = [s * 1000 for s in samples]
    return f"| {name} | {min(ms):.0f} | {statistics.median(ms):.0f} | {max(ms):.0f} | {target} |"


HEADER = "| measure | min ms | median ms | max ms | target |\n| --- | ---: | ---: | ---: | --- |"


def cpu_seconds(worker: int | None = None) -> dict[str, float]:
    """CPU time used so far by the worker (process `worker`, else this one), this process
    when the worker is another (`starter`: what starts the executions), the Temporal
    server and PostgreSQL (every process of those names on the machine: run nothing else
    beside)."""
    groups: dict[str, list[psutil.Process]] = {"worker": [psutil.Process(worker)]}
    if worker is not None:
        groups["starter"] = [psutil.Process()]
    groups |= {"temporal": [], "postgres": []}
    for process in psutil.process_iter(["name"]):
        name = process.info["name"] or ""
        if name.startswith("temporal"):
            groups["temporal"].append(process)
        elif name.startswith("postgres"):
            groups["postgres"].append(process)
    used = {}
    for group, processes in groups.items():
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue  # ended meanwhile
            total += times.user + times.system
        used[group] = total
    return used
