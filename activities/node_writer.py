"""Write-behind node bookkeeping: a step never waits for its node's row.

Steps hand their node's new values to the writer and go on. The writer gathers what
comes in for `LINGER_SECONDS` after the first value, merges it per node (later values
win, so a node's writes keep their order) and writes the batch in one statement. Under
load a batch carries many executions' nodes, so the cost per step falls as the load
grows: without the window, 200 concurrent executions made about 750 statements for 1,000
node writes, each costing more worker CPU than the row it carried (docs/performance.md).

Best effort by design: the workflow's view is written again, authoritatively, at every
wait for a person and when the execution ends. A batch the database refuses is logged and
dropped, and rows of executions that have ended are never touched.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from pydantic_core import to_json

from nightwatch.logs import get_logger
from storage import executions
from storage.db import bookkeeping_pool

log = get_logger("nightwatch.activities.node_writer")

# How long the writer gathers node values before a batch: the database's live view of a
# running execution lags by about this much (its record at each wait and at the end is
# written by the workflow itself, at once).
LINGER_SECONDS = 0.2


class NodeWriter:
    def __init__(self, database_url: str, linger_seconds: float = LINGER_SECONDS) -> None:
        self._url = database_url
        self._linger = linger_seconds
        self._queued: dict[int, dict[str, Any]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def put(self, node_id: int, **values: Any) -> None:
        """Queue new values for a node (merged with what is queued for it already)."""
        self._queued.setdefault(node_id, {}).update(values)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def drain(self) -> None:
        """Wait until everything queued so far has been written (or given up on)."""
        await self._idle.wait()

    async def _run(self) -> None:
        """Write batches until nothing is queued, then end (`put` starts it again). A worker
        that stops cancels the gathering: what is queued is written before the task ends."""
        try:
            while self._queued:
                try:
                    await asyncio.sleep(self._linger)  # gather the values that follow
                except asyncio.CancelledError:
                    await self._write_queued()
                    raise
                await self._write_queued()
        finally:
            self._idle.set()

    async def _write_queued(self) -> None:
        batch, self._queued = self._queued, {}
        try:
            await self._write(batch)
        except Exception:  # best effort: the final record repairs what is lost here
            log.exception("node bookkeeping dropped", nodes=sorted(batch))

    async def _write(self, batch: dict[int, dict[str, Any]]) -> None:
        batch_json = to_json(batch).decode()
        try:
            async with (await bookkeeping_pool(self._url)).connection() as conn:
                await executions.write_nodes(conn, batch_json)
        except (psycopg.Error, OSError) as exc:
            log.warning(
                "node bookkeeping deferred: database unavailable",
                nodes=sorted(batch),
                error=type(exc).__name__,
            )
