"""Initialisation tasks and their three strategies, made exactly-once by the database.

- ONCE_EVER: runs the first time, never again on upgrade or redeploy.
- ONCE_PER_DEPLOYMENT: at each deployment exactly one server runs it; the others wait for
  it to finish and then skip.
- EVERY_SERVER: each server runs it at each start.

A PostgreSQL advisory lock per (task, deployment) serialises the servers and a row in
`init_task_run` records each run; a partial unique index allows one success per task and
deployment. The task's writes and its success record commit in one transaction, so a
server killed half-way leaves nothing half-written: its run stays RUNNING, and the next
server to take the lock marks it FAILED and runs the task again.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Update, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nightwatch import __version__
from nightwatch.errors import NightwatchError
from nightwatch.logs import get_logger
from storage.db import engine
from storage.enums import InitRunState, InitStrategy
from storage.models import InitTaskRun

log = get_logger("runtime.initialisation")
EVER = "*"


class InitError(NightwatchError):
    """An initialisation task failed, or waiting for another server took too long."""


@dataclass(frozen=True)
class InitContext:
    version: str
    deployment: str
    server: str


TaskBody = Callable[[Session, InitContext], dict[str, Any] | None]


@dataclass(frozen=True)
class InitTask:
    name: str
    strategy: InitStrategy
    body: TaskBody
    description: str = ""


@dataclass(frozen=True)
class TaskOutcome:
    task: str
    strategy: str
    deployment: str
    ran: bool
    seconds: float = 0.0
    done_by: str | None = None
    details: dict[str, Any] | None = None


def server_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _runs(task: InitTask, deployment: str, state: InitRunState) -> tuple[Any, ...]:
    """The filter for runs of `task` for `deployment` in `state`."""
    return (
        InitTaskRun.task == task.name,
        InitTaskRun.deployment == deployment,
        InitTaskRun.state == state,
    )


def _lock_key(task: str, deployment: str) -> int:
    digest = hashlib.sha256(f"nightwatch-init:{task}:{deployment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def run_tasks(
    url: str, tasks: Sequence[InitTask], context: InitContext, *, wait_seconds: int = 300
) -> list[TaskOutcome]:
    """Run every task by its strategy, in order; raise InitError on the first failure."""
    return [_run_one(url, task, context, wait_seconds) for task in tasks]


def _run_one(url: str, task: InitTask, context: InitContext, wait_seconds: int) -> TaskOutcome:
    deployment = EVER if task.strategy == InitStrategy.ONCE_EVER else context.deployment
    with engine(url).connect() as conn:
        if task.strategy == InitStrategy.EVERY_SERVER:
            return _execute(conn, task, context, deployment)
        key = _lock_key(task.name, deployment)
        _acquire(conn, key, task, deployment, wait_seconds)
        try:
            done = conn.execute(
                select(InitTaskRun.server).where(
                    InitTaskRun.task == task.name,
                    InitTaskRun.deployment == deployment,
                    InitTaskRun.state == InitRunState.SUCCEEDED,
                )
            ).scalar()
            conn.commit()
            if done is not None:
                return TaskOutcome(task.name, task.strategy, deployment, ran=False, done_by=done)
            _take_over_dead_runs(conn, task, deployment, context)
            return _execute(conn, task, context, deployment)
        finally:
            conn.execute(text("select pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


def _acquire(conn: Connection, key: int, task: InitTask, deployment: str, wait: int) -> None:
    conn.execute(text(f"set lock_timeout = '{int(wait)}s'"))
    try:
        conn.execute(text("select pg_advisory_lock(:key)"), {"key": key})
    except DBAPIError:
        conn.rollback()
        holder = conn.execute(
            select(InitTaskRun.server).where(*_runs(task, deployment, InitRunState.RUNNING))
        ).scalar()
        raise InitError(
            f"init task {task.name}",
            f"waited {wait}s for server {holder or '(unknown)'} to finish it for deployment "
            f"{deployment}; raise NIGHTWATCH_INIT_WAIT_SECONDS or check that server",
        ) from None
    conn.execute(text("set lock_timeout = 0"))
    conn.commit()


def _take_over_dead_runs(
    conn: Connection, task: InitTask, deployment: str, context: InitContext
) -> None:
    """We hold the lock, so a RUNNING row of this task is from a server that died."""
    result = conn.execute(
        update(InitTaskRun)
        .where(*_runs(task, deployment, InitRunState.RUNNING))
        .values(
            state=InitRunState.FAILED,
            finished_at=datetime.now(UTC),
            error=f"server stopped before finishing; taken over by {context.server}",
        )
        .returning(InitTaskRun.server)
    )
    for (dead,) in result:
        log.warning("taking over an interrupted init task", task=task.name, dead_server=dead)
    conn.commit()


def _finish(run_id: int, state: InitRunState, **values: Any) -> Update:
    return (
        update(InitTaskRun)
        .where(InitTaskRun.id == run_id)
        .values(state=state, finished_at=datetime.now(UTC), **values)
    )


def _execute(
    conn: Connection, task: InitTask, context: InitContext, deployment: str
) -> TaskOutcome:
    run_id = conn.execute(
        insert(InitTaskRun)
        .values(
            task=task.name,
            strategy=task.strategy,
            deployment=deployment,
            server=context.server,
            state=InitRunState.RUNNING,
        )
        .returning(InitTaskRun.id)
    ).scalar_one()
    conn.commit()
    started = time.monotonic()
    try:
        with Session(bind=conn) as session:
            details = task.body(session, context)
            session.execute(_finish(run_id, InitRunState.SUCCEEDED, details=details))
            session.commit()
    except Exception as exc:
        conn.rollback()
        conn.execute(_finish(run_id, InitRunState.FAILED, error=str(exc)))
        conn.commit()
        reason = exc.reason if isinstance(exc, NightwatchError) else f"{type(exc).__name__}: {exc}"
        raise InitError(f"init task {task.name}", reason) from exc
    seconds = time.monotonic() - started
    log.info("init task ran", task=task.name, deployment=deployment, seconds=round(seconds, 3))
    return TaskOutcome(task.name, task.strategy, deployment, True, seconds, details=details)


def default_context(deployment: str | None) -> InitContext:
    from catalog.registry import catalog_fingerprint

    return InitContext(
        version=__version__,
        deployment=deployment or f"{__version__}+{catalog_fingerprint()[:12]}",
        server=server_identity(),
    )
