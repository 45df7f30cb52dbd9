"""Write-behind node bookkeeping: a step never waits for its node's row.

Steps hand their node's new values to the writer and go on. The writer merges what is
queued per node (later values win, so a node's writes keep their order) and writes each
batch in one statement. Under load a batch carries
many executions' nodes, so the database cost per step falls as the load grows.

Best effort by design: the workflow's view is written again, authoritatively, at every
wait for a person and when the execution ends. A batch the database refuses is logged and
dropped, and rows of executions that have ended are never touched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError

from nightwatch.logs import get_logger
from storage import executions
from storage.db import bookkeeping_engine

log = get_logger("nightwatch.activities.node_writer")


class NodeWriter:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
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
        """Write batches until nothing is queued, then end (`put` starts it again): no task
        is left pending when the worker shuts down."""
        while self._queued:
            batch, self._queued = self._queued, {}
            try:
                await self._write(batch)
            except Exception:  # best effort: the final record repairs what is lost here
                log.exception("node bookkeeping dropped", nodes=sorted(batch))
        self._idle.set()

    async def _write(self, batch: dict[int, dict[str, Any]]) -> None:
        batch_json = to_json(batch).decode()
        try:
            async with bookkeeping_engine(self._url).connect() as conn:
                await executions.write_nodes(conn, batch_json)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "node bookkeeping deferred: database unavailable",
                nodes=sorted(batch),
                error=type(exc).__name__,
            )
