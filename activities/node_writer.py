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
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from nightwatch.logs import get_logger
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
        values = {"batch": to_json(batch).decode()}
        try:
            async with bookkeeping_engine(self._url).connect() as conn:
                await conn.execute(_WRITE, values)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "node bookkeeping deferred: database unavailable",
                nodes=sorted(batch),
                error=type(exc).__name__,
            )


def _set(column: str, value: str) -> str:
    """`column` takes the batch's value when the batch has one for it."""
    return f"{column} = CASE WHEN v.j ? '{column}' THEN {value} ELSE n.{column} END"


# One statement per batch (autocommit): {node id: {column: value}} as JSON. The executions
# are locked (shared) first, as the final record locks its execution (exclusive) first: a
# write racing with an execution's end either lands before the final record or sees the
# execution ended and writes nothing for it.
_WRITE = text(f"""
WITH v AS MATERIALIZED (
    SELECT CAST(key AS bigint) AS id, value AS j FROM jsonb_each(CAST(:batch AS jsonb))
), live AS MATERIALIZED (
    SELECT e.id FROM pre_plan_execute_order AS e
    WHERE e.ended_at IS NULL AND e.id IN (
        SELECT n.execute_order_id FROM pre_plan_execute_node AS n JOIN v ON v.id = n.id
    )
    FOR SHARE
)
UPDATE pre_plan_execute_node AS n SET
    {_set("state", "v.j->>'state'")},
    {_set("attempts", "CAST(v.j->>'attempts' AS integer)")},
    {_set("output", "NULLIF(v.j->'output', 'null')")},
    {_set("error", "v.j->>'error'")},
    {_set("started_at", "CAST(v.j->>'started_at' AS timestamptz)")},
    {_set("ended_at", "CAST(v.j->>'ended_at' AS timestamptz)")},
    updated_at = now()
FROM v, live
WHERE n.id = v.id AND n.execute_order_id = live.id
""")
