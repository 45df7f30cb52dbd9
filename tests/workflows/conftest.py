"""Running executions on the time-skipping server with a real worker and a real database."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from plans import store
from plans.model import PlanDocument
from runtime.worker import build_worker
from storage.db import session_factory
from storage.models import Execution, ExecutionNode
from tests.support import wait_until_async
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionInput, ExecutionView, NodeView

Handle = WorkflowHandle[PlanExecutionWorkflow, ExecutionView]


class Engine:
    """A worker on a task queue of its own, and helpers to drive executions."""

    def __init__(self, env: WorkflowEnvironment, db: str, queue: str) -> None:
        self.env, self.db, self.queue = env, db, queue
        self.started: list[Handle] = []

    async def end_what_was_started(self) -> None:
        """Terminate the executions still open, before the worker stops: no workflow task
        or local activity of theirs is left in flight when it does."""
        for handle in self.started:
            with contextlib.suppress(RPCError):  # ended already
                await handle.terminate("test over")

    def apply(self, document: dict[str, Any]) -> str:
        with session_factory(self.db)() as session:
            result = store.apply(session, PlanDocument.model_validate(document))
            session.commit()
        return result.name

    async def start(self, plan: str, **fields: Any) -> Handle:
        handle = await self.env.client.start_workflow(
            PlanExecutionWorkflow.run,
            ExecutionInput(plan=plan, triggered_by="test", **fields),
            id=f"exec-{uuid.uuid4().hex[:10]}",
            task_queue=self.queue,
        )
        self.started.append(handle)
        return handle

    async def node_when(
        self, handle: Handle, key: str, condition: Callable[[NodeView], bool], within: float = 30
    ) -> NodeView:
        found: list[NodeView] = []

        async def check() -> bool:
            view = await handle.query(PlanExecutionWorkflow.get_state)
            node = next((n for n in view.nodes if n.key == key), None)
            if node is not None and condition(node):
                found.append(node)
                return True
            return False

        await wait_until_async(check, within=within, what=f"node {key}")
        return found[0]

    async def waiting(self, handle: Handle, key: str) -> NodeView:
        return await self.node_when(handle, key, lambda n: n.waiting_for is not None)

    def rows(self, execution_id: str) -> tuple[Execution, dict[int, ExecutionNode]]:
        with session_factory(self.db)() as session:
            execution = session.scalar(
                select(Execution).where(Execution.execution_id == execution_id)
            )
            assert execution is not None
            query = select(ExecutionNode).where(ExecutionNode.execute_order_id == execution.id)
            nodes = session.scalars(query.order_by(ExecutionNode.id)).all()
        return execution, {node.id: node for node in nodes}


async def markers(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The markers of an execution's history, in order: (name, their JSON details merged):
    ("core_local_activity", {"activity_type": "record_execution", ...}), ("core_patch",
    {"id": "plan-memo", ...})."""
    found = []
    async for event in handle.fetch_history_events():
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        details: dict[str, Any] = {}
        for payloads in marker.details.values():
            for payload in payloads.payloads:
                if payload.metadata.get("encoding") == b"json/plain":
                    details.update(json.loads(payload.data))
        found.append((marker.marker_name, details))
    return found


async def activity_ids(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The ids of the activities an execution's history scheduled, in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_id
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


@pytest_asyncio.fixture
async def engine(
    time_skipping_env: WorkflowEnvironment, engine_db: str, task_queue: str
) -> AsyncIterator[Engine]:
    async with build_worker(time_skipping_env.client, task_queue, engine_db):
        engine = Engine(time_skipping_env, engine_db, task_queue)
        yield engine
        await engine.end_what_was_started()


@pytest_asyncio.fixture
async def dev_engine(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str
) -> AsyncIterator[Engine]:
    """The same on the real dev server (real time, real heartbeats)."""
    async with build_worker(dev_env.client, task_queue, engine_db):
        engine = Engine(dev_env, engine_db, task_queue)
        yield engine
        await engine.end_what_was_started()
