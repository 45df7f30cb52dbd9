"""The history archive: every closed execution's full Temporal history, kept in PostgreSQL.

Temporal deletes a history after the namespace's retention period; audits need it for
years. Each worker archives closed executions (and their disaster-recovery children) as
they close: the history as Temporal stores it (payloads still encrypted), gzip-compressed,
with the SHA-256 of its JSON and a chain hash over that digest and the previous row's chain
hash. Changing, removing or reordering any archived row breaks the chain from there on,
which `nightwatch audit verify` reports. The table is append-only (a trigger refuses
updates and deletes).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from nightwatch.logs import get_logger
from storage.db import session_factory
from storage.models import HistoryArchive

log = get_logger("audit.archive")

WORKFLOW_TYPE = "PlanExecution"
GENESIS = "0" * 64
_CHAIN_LOCK = 0x4E57_4152  # advisory lock: one writer extends the chain at a time
# Visibility lags a little behind a close: look back this far behind the newest archived.
_LOOK_BACK = timedelta(hours=1)


@dataclass(frozen=True)
class Archived:
    workflow_id: str
    run_id: str
    events: int
    sha256: str


@dataclass(frozen=True)
class ChainCheck:
    rows: int
    broken: list[str]  # one line per row that does not verify

    @property
    def ok(self) -> bool:
        return not self.broken


def execution_of(workflow_id: str) -> str:
    """The execution a workflow belongs to (a DR sub-plan's child is `<execution>/<sub-plan>`)."""
    return workflow_id.split("/", 1)[0]


def chain_hash(prev_hash: str, digest: str, workflow_id: str, run_id: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{digest}|{workflow_id}|{run_id}".encode()).hexdigest()


def _history_bytes(history: WorkflowHistory) -> bytes:
    return history.to_json().encode()


def store(
    session: Session,
    history: WorkflowHistory,
    *,
    run_id: str,
    status: str,
    closed_at: datetime | None,
) -> Archived | None:
    """Append one closed workflow's history to the chain (None: it was archived already).
    Commits."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    exists = session.scalar(
        select(HistoryArchive.id).where(
            HistoryArchive.workflow_id == history.workflow_id, HistoryArchive.run_id == run_id
        )
    )
    if exists is not None:
        session.rollback()
        return None
    raw = _history_bytes(history)
    digest = hashlib.sha256(raw).hexdigest()
    prev = session.scalar(
        select(HistoryArchive.chain_hash).order_by(HistoryArchive.id.desc()).limit(1)
    )
    prev = prev or GENESIS
    session.add(
        HistoryArchive(
            workflow_id=history.workflow_id,
            run_id=run_id,
            execution_id=execution_of(history.workflow_id),
            workflow_type=WORKFLOW_TYPE,
            status=status,
            closed_at=closed_at,
            event_count=len(history.events),
            history_gz=gzip.compress(raw, compresslevel=6),
            sha256=digest,
            prev_hash=prev,
            chain_hash=chain_hash(prev, digest, history.workflow_id, run_id),
        )
    )
    session.commit()
    return Archived(history.workflow_id, run_id, len(history.events), digest)


async def archive_closed(client: Client, database_url: str) -> list[Archived]:
    """Archive every closed execution not archived yet; returns what was added."""

    def newest() -> datetime | None:
        with session_factory(database_url)() as session:
            return session.scalar(select(func.max(HistoryArchive.closed_at)))

    since = await asyncio.to_thread(newest)
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
    if since is not None:
        query += f" AND CloseTime > '{(since - _LOOK_BACK).astimezone(UTC).isoformat()}'"
    closed = [found async for found in client.list_workflows(query)]

    def known() -> set[tuple[str, str]]:
        """What is archived already among what the listing can return (not the whole
        archive: it only grows)."""
        query = select(HistoryArchive.workflow_id, HistoryArchive.run_id)
        if since is not None:
            query = query.where(HistoryArchive.closed_at >= since - _LOOK_BACK)
        with session_factory(database_url)() as session:
            return {(w, r) for w, r in session.execute(query)}

    done = await asyncio.to_thread(known)
    added: list[Archived] = []
    for found in closed:
        if (found.id, found.run_id) in done:
            continue
        history = await client.get_workflow_handle(found.id, run_id=found.run_id).fetch_history()

        def write(
            history: WorkflowHistory = history, found: WorkflowExecution = found
        ) -> Archived | None:
            with session_factory(database_url)() as session:
                return store(
                    session,
                    history,
                    run_id=found.run_id,
                    status=found.status.name if found.status else "CLOSED",
                    closed_at=found.close_time,
                )

        archived = await asyncio.to_thread(write)
        if archived is not None:
            added.append(archived)
            log.info(
                "history archived",
                workflow_id=archived.workflow_id,
                events=archived.events,
                sha256=archived.sha256[:12],
            )
    return added


async def archive_forever(client: Client, database_url: str, every_seconds: float) -> None:
    """The worker's archiver: a pass every `every_seconds`, errors logged and retried."""
    while True:
        try:
            await archive_closed(client, database_url)
        except (RPCError, OSError) as exc:
            log.warning("history archiving deferred", error=str(exc))
        except Exception as exc:  # the database may be down: try again next pass
            log.warning("history archiving deferred", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(every_seconds)


def archived_histories(database_url: str, execution_id: str) -> list[WorkflowHistory]:
    """The archived histories of an execution (its own, then its children's), digests checked."""
    with session_factory(database_url)() as session:
        rows = session.scalars(
            select(HistoryArchive)
            .where(HistoryArchive.execution_id == execution_id)
            .order_by(HistoryArchive.id)
        ).all()
        histories = []
        for row in rows:
            raw = gzip.decompress(row.history_gz)
            if hashlib.sha256(raw).hexdigest() != row.sha256:
                raise ArchiveTampered(
                    row.workflow_id,
                    "archived history does not match its SHA-256 (run nightwatch audit verify)",
                )
            histories.append(WorkflowHistory.from_json(row.workflow_id, raw.decode()))
        return sorted(histories, key=lambda h: (h.workflow_id != execution_id, h.workflow_id))


class ArchiveTampered(Exception):
    def __init__(self, workflow_id: str, reason: str) -> None:
        super().__init__(f"{workflow_id}: {reason}")


def verify_chain(database_url: str) -> ChainCheck:
    """Recompute every row's digest and chain hash, in order."""
    broken: list[str] = []
    prev = GENESIS
    count = 0
    with session_factory(database_url)() as session:
        for row in session.scalars(select(HistoryArchive).order_by(HistoryArchive.id)):
            count += 1
            where = f"row {row.id} ({row.workflow_id})"
            try:
                digest = hashlib.sha256(gzip.decompress(row.history_gz)).hexdigest()
            except (OSError, EOFError):
                broken.append(f"{where}: the archived history is not readable gzip")
                digest = ""
            if digest and digest != row.sha256:
                broken.append(f"{where}: history does not match its SHA-256 (changed)")
            if row.prev_hash != prev:
                broken.append(f"{where}: does not follow the previous row (removed or reordered)")
            if row.chain_hash != chain_hash(row.prev_hash, row.sha256, row.workflow_id, row.run_id):
                broken.append(f"{where}: chain hash does not match its contents")
            prev = row.chain_hash
    return ChainCheck(count, broken)


async def fetch_histories(
    client: Client, database_url: str, execution_id: str
) -> tuple[str, list[WorkflowHistory]]:
    """An execution's histories (its own first, then its sub-plans'): from Temporal while it
    has them, else from the archive. Returns the source ("temporal" or "archive")."""
    try:
        top = await client.get_workflow_handle(execution_id).fetch_history()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return "archive", await asyncio.to_thread(archived_histories, database_url, execution_id)
    histories = [top]
    for child in child_ids(top):
        histories.append(await client.get_workflow_handle(child).fetch_history())
    return "temporal", histories


def child_ids(history: WorkflowHistory) -> list[str]:
    ids = []
    for event in history.events:
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            ids.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
    return list(dict.fromkeys(ids))
