"""Bookkeeping of executions in PostgreSQL and the step activity that runs an action.

The workflow's state is the truth; these activities mirror it into the database. A step's
own activity records its node (no extra round trip per step), best effort: if the
database is down the step still runs, and the workflow's full view is written again at
every wait for a person and when the execution ends (retried until the database answers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities import creation
from activities.actions import HANDLERS, ActionContext, handler_for
from activities.node_writer import NodeWriter
from catalog.actions import ACTIONS
from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE, secret_params
from nightwatch.codec import KeyRing
from nightwatch.errors import NightwatchError
from nightwatch.logs import bind_execution, get_logger
from nightwatch.metrics import EXECUTIONS_FINISHED, STEP_SECONDS
from nightwatch.sealing import SecretError, reveal, reveal_env
from nightwatch.temporal import SEARCH_ATTRIBUTES
from platforms.errors import PlatformError
from storage import executions
from storage.db import bookkeeping_pool, unavailable, writer_engine
from storage.enums import NodeState
from workflows.models import (
    DATABASE_UNAVAILABLE,
    ExecutionInput,
    ExecutionRecord,
    ExecutionSnapshot,
    StepRequest,
    StepResult,
)

log = get_logger("nightwatch.activities.execution")

# Heartbeats are how a cancellation reaches a running step (timeout 10 s in the workflow).
HEARTBEAT_SECONDS = 2
# A step still running after this is recorded RUNNING; a quicker one is recorded once.
SLOW_STEP_SECONDS = 0.5


def _execution_id() -> str:
    """The workflow id of the running activity: the execution id."""
    return activity.info().workflow_id or "(no workflow)"


class ExecutionActivities:
    def __init__(self, database_url: str, ring: KeyRing | None = None) -> None:
        self._url = database_url
        self._ring = ring  # unseals secret parameters right before a step uses them
        self._nodes = NodeWriter(database_url)

    # -- start ---------------------------------------------------------------------------

    @activity.defn
    async def create_execution(self, params: ExecutionInput) -> ExecutionSnapshot:
        """Snapshot the plan and create the execution and its nodes (idempotent)."""
        info = activity.info()
        with _database_errors():
            snapshot = await asyncio.to_thread(
                self._create, _execution_id(), info.workflow_run_id, params
            )
        indexed = await registered_search_attributes(activity.client())
        return snapshot.model_copy(update={"search_attributes": indexed})

    def _create(
        self, execution_id: str, run_id: str | None, params: ExecutionInput
    ) -> ExecutionSnapshot:
        bind_execution(execution_id)
        # Autocommit: the creation writes in one statement (activities/creation.py).
        with Session(writer_engine(self._url)) as session:
            try:
                snapshot = creation.create(
                    session, execution_id, params, run_id=run_id, ring=self._ring
                )
            except NightwatchError as exc:
                raise ApplicationError(
                    str(exc), type=type(exc).__name__, non_retryable=True
                ) from None
            except IntegrityError:
                # A retry of a creation that committed (its answer was lost): the row exists.
                session.rollback()
                existing = executions.by_execution_id(session, execution_id)
                if existing is None:
                    raise
                reused = creation.reused_id(existing, run_id)
                if reused:
                    raise ApplicationError(
                        reused, type="ExecutionIdReused", non_retryable=True
                    ) from None
                return ExecutionSnapshot.model_validate(existing.plan_snapshot["snapshot"])
        log.info("execution created", plan=snapshot.plan_name, nodes=len(snapshot.nodes))
        return snapshot

    # -- steps ---------------------------------------------------------------------------

    def step_activities(self) -> list[Callable[..., Awaitable[StepResult]]]:
        """One activity per action, named as the catalog says (`APP_SCALE_OUT` runs as
        `scale_out`), so histories and the Web UI show which action a step ran."""
        names = sorted({spec.activity for spec in ACTIONS if spec.code in HANDLERS})
        return [self._step_activity(name) for name in names]

    def _step_activity(self, name: str) -> Callable[..., Awaitable[StepResult]]:
        async def step(request: StepRequest) -> StepResult:
            return await self.run_step(request)

        step.__doc__ = f"Runs a step whose action's activity is {name}."
        return activity.defn(name=name)(step)

    async def run_step(self, request: StepRequest) -> StepResult:
        """Run one action and record its node: once for a quick step, RUNNING first for a
        slow one (write-behind, best effort; the workflow's final record is authoritative).
        A long action's progress is heartbeated and handed back to the next attempt."""
        info = activity.info()
        bind_execution(_execution_id())
        started = datetime.now(UTC)
        resumed = info.heartbeat_details[0] if info.heartbeat_details else None
        context = ActionContext(
            self._url,
            _execution_id(),
            request.attempt_note or "",
            round_=request.round,
            resumed=resumed if isinstance(resumed, dict) else None,
            on_progress=lambda details: self._mark_later(
                request.node_id, output={"progress": details}
            ),
        )
        if context.resumed:
            log.info(
                "step resumed from its last heartbeat",
                node=request.attempt_note,
                attempt=info.attempt,
                progress=context.resumed,
            )
        node = request.attempt_note or ""
        try:
            revealed = reveal(
                request.params,
                self._ring,
                path=f"node {node}",
                execution=request.execution_id or info.workflow_id or "",
                node=node,
            )
            params = reveal_env(revealed, secret_params(request.action), path=f"node {node}")
        except SecretError as exc:
            self._mark_later(request.node_id, error=str(exc), attempts=info.attempt)
            raise ApplicationError(str(exc), type="SecretError", non_retryable=True) from None
        invalid = _invalid(request.action, params) if request.check_params else None
        if invalid:  # values a signal filled in are checked here (workflows/people.py)
            self._mark_later(request.node_id, error=invalid, attempts=info.attempt)
            raise ApplicationError(invalid, type="InvalidParameters", non_retryable=True)
        # A quick step runs with no task or wait around it; one still running after
        # SLOW_STEP_SECONDS is marked RUNNING and heartbeats, with its latest progress (a
        # bare heartbeat would erase it), until it ends.
        loop = asyncio.get_running_loop()
        timer: list[asyncio.TimerHandle] = []

        def heartbeat() -> None:
            activity.heartbeat(*([context.details] if context.details else []))
            timer[:] = [loop.call_later(HEARTBEAT_SECONDS, heartbeat)]

        def slow() -> None:
            self._mark_later(
                request.node_id, state=NodeState.RUNNING, attempts=info.attempt, started_at=started
            )
            heartbeat()

        timer.append(loop.call_later(SLOW_STEP_SECONDS, slow))
        clock, outcome = time.monotonic(), "failed"
        try:
            output = await handler_for(request.action)(params, context)
            outcome = "succeeded"
        except asyncio.CancelledError:
            outcome = "cancelled"
            await self._note_cancelled(request.node_id, context)
            raise
        except PlatformError as exc:
            self._mark_later(
                request.node_id, error=str(exc), attempts=info.attempt, started_at=started
            )
            raise ApplicationError(
                str(exc), type="PlatformError", non_retryable=not exc.retryable
            ) from None
        finally:
            timer[0].cancel()
            STEP_SECONDS.labels(request.action, outcome).observe(time.monotonic() - clock)
        ended = datetime.now(UTC)
        if request.finish is not None and await self._finish(request, output, ended):
            return StepResult(output=output, recorded=True)
        self._mark_later(
            request.node_id,
            state=NodeState.SUCCEEDED,
            attempts=info.attempt,
            output=output,
            error=None,
            started_at=started,
            ended_at=ended,
        )
        return StepResult(output=output)

    async def _finish(self, request: StepRequest, output: dict[str, Any], ended: datetime) -> bool:
        """Write the execution's end with this last step's result (`StepRequest.finish`).
        False if the database did not take it: the workflow then records the end itself."""
        record = request.finish
        assert record is not None
        step = {"id": request.node_id, "output": output, "ended_at": ended}
        try:
            async with (await bookkeeping_pool(self._url)).connection() as conn:
                recorded = await executions.record_from_step(
                    conn,
                    record.execution_row,
                    _record_json(record, step),
                    record.state,
                    record.error,
                    ended=record.ended,
                )
        except (psycopg.Error, OSError) as exc:
            log.warning(
                "the last step could not record the execution's end; the workflow will",
                error=type(exc).__name__,
            )
            return False
        _count_end(record, recorded)
        # Not written but there: an earlier attempt of this step recorded the end already.
        return recorded.exists

    async def _note_cancelled(self, node_id: int, context: ActionContext) -> None:
        """Leave on the node where a cancelled step stopped (the final record keeps it)."""
        if not context.details:
            return
        note = "cancelled during this step: the platform was left as `progress` says"
        self._nodes.put(
            node_id, output={"cancelled": True, "note": note, "progress": context.details}
        )
        try:
            await asyncio.wait_for(self._nodes.drain(), timeout=5)
        except TimeoutError:
            log.warning("cancelled step's progress not recorded in time", node_id=node_id)

    def _mark_later(self, node_id: int, **values: Any) -> None:
        """Record a node without holding up the step (see activities/node_writer.py)."""
        self._nodes.put(node_id, **values)

    # -- the workflow's view -------------------------------------------------------------

    @activity.defn
    def record_execution(self, record: ExecutionRecord) -> None:
        """Write the workflow's view of the execution and every node (idempotent): one
        statement, which locks the execution first, as the node writer does, so that no
        node write lands after the end; an ended execution is left as it is."""
        with _database_errors(), writer_engine(self._url).connect() as conn:
            recorded = executions.record(
                conn,
                record.execution_row,
                _record_json(record),
                record.state,
                record.error,
                ended=record.ended,
            )
        if not recorded.exists:
            raise ApplicationError(f"no execution row {record.execution_row}", non_retryable=True)
        _count_end(record, recorded)

    @activity.defn
    async def send_reminder(self, message: str) -> bool:
        """Post a reminder to every notification channel (best effort)."""
        context = ActionContext(self._url, _execution_id(), "reminder")
        try:
            hooks = await context.config("notification.webhooks")
        except PlatformError:
            log.warning("reminder not sent: no notification channel configured", text=message)
            return False
        handler = handler_for("NOTIFY")
        for hook in hooks:
            try:
                await handler({"channel": hook["name"], "message": message}, context)
            except PlatformError as exc:
                log.warning("reminder not delivered", channel=hook["name"], error=str(exc))
        return True


def _record_json(record: ExecutionRecord, step: dict[str, Any] | None = None) -> str:
    """The nodes of a record as the statement takes them; `step` holds the values of one
    node that only its step knows (its output and end time) when a step writes the end."""
    nodes = [
        {
            "id": node.node_id,
            "state": node.state,
            "parameters": node.params,
            "pending_parameters": node.pending,
            "decisions": node.decisions,
            "attempts": node.attempts,
            "error": node.error,
            "started_at": node.started_at,
            "ended_at": node.ended_at,
            # An output only the step's activity knows (where a cancelled step stopped) is
            # kept: the workflow writes the outputs it has.
            "output": node.output,
            **(step if step and step["id"] == node.node_id else {}),
        }
        for node in record.nodes
    ]
    return to_json(nodes).decode()


def _count_end(record: ExecutionRecord, recorded: executions.Recorded) -> None:
    if recorded.written and record.ended and record.state:
        EXECUTIONS_FINISHED.labels(recorded.plan or "?", record.state).inc()


def _invalid(action: str, params: dict[str, Any]) -> str | None:
    """What is wrong with a step's parameters by this release's action (None: nothing)."""
    spec = ACTIONS_BY_CODE.get(action)
    if spec is None:
        return f"action {action} is not known to this server version"
    problems = check_parameters(spec.params, params)
    return "; ".join(f"{p.field}: {p.reason}" for p in problems) or None


@contextmanager
def _database_errors() -> Iterator[None]:
    """Bookkeeping's failures as the workflow needs them: the database being away is
    DATABASE_UNAVAILABLE (wait and try again), an error about the data is final."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as exc:
        # The driver's first line only: SQLAlchemy's text carries the statement's values.
        lines = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        if unavailable(exc):
            raise ApplicationError(
                f"database unavailable: {reason}", type=DATABASE_UNAVAILABLE
            ) from None
        if isinstance(exc, SQLAlchemyError):
            raise ApplicationError(
                f"bookkeeping refused: {reason}", type=type(exc).__name__, non_retryable=True
            ) from None
        raise


_REGISTERED: dict[tuple[str, str], list[str]] = {}


async def registered_search_attributes(client: Client) -> list[str]:
    """Which of our search attributes the namespace has (asked once per server and namespace).

    An execution indexes itself only under these, so a namespace where someone forgot to
    register them runs executions unindexed (with a warning) instead of failing them.
    """
    key = (client.service_client.config.target_host, client.namespace)
    if key not in _REGISTERED:
        try:
            response = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
            found = set(response.custom_attributes)
        except RPCError as exc:
            log.warning("cannot list search attributes; executions are not indexed", error=str(exc))
            found = set()
        _REGISTERED[key] = [sa.name for sa in SEARCH_ATTRIBUTES if sa.name in found]
        missing = [sa.name for sa in SEARCH_ATTRIBUTES if sa.name not in found]
        if missing:
            log.warning(
                "search attributes missing: run `nightwatch temporal register-search-attributes`",
                missing=missing,
            )
    return _REGISTERED[key]
