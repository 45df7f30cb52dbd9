"""Write-behind node bookkeeping: merged in order per node, never past an execution's end."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from activities.node_writer import NodeWriter
from storage.enums import NodeState
from tests.plans.samples import step
from tests.support import free_port
from tests.workflows.conftest import Engine, Handle
from tests.workflows.test_execution import GATE, _act, _plan
from workflows.execution import PlanExecutionWorkflow


async def _parked(engine: Engine, name: str) -> tuple[Handle, int, int]:
    """An execution of two steps waiting at its first, and its two nodes' row ids."""
    plan = _plan(name, step("CHECKPOINT", "a") | GATE, step("CHECKPOINT", "b"))
    handle = await engine.start(engine.apply(plan))
    await engine.waiting(handle, "1")
    _, nodes = engine.rows(handle.id)
    first, second = nodes
    return handle, first, second


async def test_writes_merge_in_order_and_never_touch_an_ended_execution(engine: Engine) -> None:
    handle, first, second = await _parked(engine, "writer")
    writer = NodeWriter(engine.db)
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # Three writes for one node and one for another, queued before the writer runs:
    # one batch, and the node's later values win over its earlier ones.
    writer.put(second, state=NodeState.RUNNING, attempts=1, started_at=started)
    writer.put(second, error="boom", attempts=1)
    writer.put(second, state=NodeState.SUCCEEDED, attempts=2, error=None, output={"ok": True})
    writer.put(first, attempts=7)
    await writer.drain()
    _, nodes = engine.rows(handle.id)
    node = nodes[second]
    assert (node.state, node.attempts, node.error, node.output) == (
        "SUCCEEDED",
        2,
        None,
        {"ok": True},
    )
    assert node.started_at == started
    assert nodes[first].attempts == 7

    await _act(handle, PlanExecutionWorkflow.abort, "1")
    await handle.result()
    _, ended = engine.rows(handle.id)
    writer.put(second, state=NodeState.RUNNING, error="late write")
    await writer.drain()
    _, after = engine.rows(handle.id)
    assert (after[second].state, after[second].error) == (ended[second].state, ended[second].error)


def _about(logs: list[MutableMapping[str, Any]], *nodes: int) -> list[object]:
    """The events about these nodes (a writer left behind by another test of this process
    may log too, about its own nodes)."""
    return [e["event"] for e in logs if e.get("nodes") == list(nodes)]


async def test_an_unreachable_database_is_logged_and_the_writer_goes_on() -> None:
    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    writer = NodeWriter(gone)
    with capture_logs() as logs:
        writer.put(900001, state=NodeState.RUNNING)
        await writer.drain()
    assert _about(logs, 900001) == ["node bookkeeping deferred: database unavailable"]
    # The writer is not stuck: later writes are attempted (and refused) too.
    with capture_logs() as logs:
        writer.put(900002, state=NodeState.RUNNING)
        await writer.drain()
    assert _about(logs, 900002) == ["node bookkeeping deferred: database unavailable"]


async def test_a_write_that_cannot_be_encoded_is_logged_and_the_writer_goes_on() -> None:
    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    writer = NodeWriter(gone)
    with capture_logs() as logs:
        writer.put(900003, output={"not json": object()})
        await writer.drain()
    assert _about(logs, 900003) == ["node bookkeeping dropped"]
    # Nothing is left running behind the writer once it is idle (a worker's shutdown
    # finds no pending task), and the next write starts it again.
    assert writer._task is not None and writer._task.done()
    with capture_logs() as logs:
        writer.put(900004, state=NodeState.RUNNING)
        await writer.drain()
    assert _about(logs, 900004) == ["node bookkeeping deferred: database unavailable"]


async def test_values_that_come_in_while_it_gathers_go_in_one_batch(engine: Engine) -> None:
    handle, first, second = await _parked(engine, "gathered")
    writer = NodeWriter(engine.db, linger_seconds=0.5)
    batches: list[list[int]] = []
    write = writer._write

    async def counted(batch: dict[int, dict[str, object]]) -> None:
        batches.append(sorted(batch))
        await write(batch)

    writer._write = counted  # type: ignore[method-assign]
    writer.put(first, attempts=3)
    await asyncio.sleep(0)  # the writer has started gathering (a step went on meanwhile)
    writer.put(second, attempts=4)
    await writer.drain()
    assert batches == [sorted([first, second])]
    _, nodes = engine.rows(handle.id)
    assert (nodes[first].attempts, nodes[second].attempts) == (3, 4)


async def test_a_stopping_worker_still_writes_what_was_gathered(engine: Engine) -> None:
    handle, _, second = await _parked(engine, "stopping")
    writer = NodeWriter(engine.db, linger_seconds=60)
    writer.put(second, attempts=9)
    await asyncio.sleep(0)
    assert writer._task is not None
    writer._task.cancel()  # what the event loop does to its tasks when the worker stops
    with pytest.raises(asyncio.CancelledError):
        await writer._task
    _, nodes = engine.rows(handle.id)
    assert nodes[second].attempts == 9
