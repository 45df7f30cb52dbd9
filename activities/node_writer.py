"""Write-behind node bookkeeping: a step never waits for its node's row.

Steps hand their node's new values to the writer and go on. The writer merges what is
queued per node (later values win, so a node's writes keep their order) and writes each
batch in one transaction, one statement per shape of update. Under load a batch carries
many executions' nodes, so the database cost per step falls as the load grows.

Best effort by design: the workflow's view is written again, authoritatively, at every
wait for a person and when the execution ends. A batch the database refuses is logged and
dropped, and rows of executions that have ended are never touched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.exc import SQLAlchemyError

from nightwatch.logs import get_logger
from storage.db import bookkeeping_engine
from storage.models import Execution, ExecutionNode

log = get_logger("nightwatch.activities.node_writer")
_COLUMNS = ExecutionNode.__table__.c


class NodeWriter:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._queued: dict[int, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def put(self, node_id: int, **values: Any) -> None:
        """Queue new values for a node (merged with what is queued for it already)."""
        self._queued.setdefault(node_id, {}).update(values)
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def drain(self) -> None:
        """Wait until everything queued so far has been written (or given up on)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queued = self._queued, {}
            if batch:
                await self._write(batch)
            if not self._queued:
                self._idle.set()

    async def _write(self, batch: dict[int, dict[str, Any]]) -> None:
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for node_id, values in batch.items():
            shape = tuple(sorted(values))
            shapes.setdefault(shape, []).append(
                {"node": node_id, **{f"v_{k}": v for k, v in values.items()}}
            )
        try:
            async with bookkeeping_engine(self._url).begin() as conn:
                # Lock the executions (shared) first, as the final record locks its execution
                # (exclusive) first: a write racing with an execution's end either lands
                # before the final record or sees the execution ended and is dropped.
                live = set(
                    (await conn.execute(
                        select(ExecutionNode.id)
                        .join(Execution, Execution.id == ExecutionNode.execute_order_id)
                        .where(ExecutionNode.id.in_(batch), Execution.ended_at.is_(None))
                        .with_for_update(of=Execution, read=True)
                    )).scalars()
                )  # fmt: skip
                for shape, rows in shapes.items():
                    rows = [row for row in rows if row["node"] in live]
                    if rows:
                        await conn.execute(_statement(shape), rows)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "node bookkeeping deferred: database unavailable",
                nodes=sorted(batch),
                error=type(exc).__name__,
            )


def _statement(shape: tuple[str, ...]) -> Any:
    """UPDATE of these columns by node id, unless the node's execution has ended."""
    return (
        update(ExecutionNode)
        .where(
            ExecutionNode.id == bindparam("node"),
            ~exists().where(
                Execution.id == ExecutionNode.execute_order_id,
                Execution.ended_at.is_not(None),
            ),
        )
        .values({name: bindparam(f"v_{name}", type_=_COLUMNS[name].type) for name in shape})
    )
