"""Inspection plans on Temporal Schedules: the one way the API and the CLI apply, pause,
resume, run, back-fill and describe them.

Each plan is one Schedule (`inspect-<name>`) whose action starts `InspectionRunWorkflow`:
overlap SKIP (a run still going when the next is due makes that one skip), the plan's
catch-up window, interval or cron in the plan's time zone, jitter. Its database row is
written first (validated, versioned); the Schedule is then created or updated to match, so
applying the same file again repairs a Schedule that is missing or differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from inspection import store
from inspection.model import InspectionDoc, next_runs, seconds
from nightwatch.errors import NightwatchError, NotFound
from nightwatch.logs import get_logger
from storage.db import session_factory
from workflows.inspection import (
    InspectionRecheckWorkflow,
    InspectionRunInput,
    InspectionRunWorkflow,
    RecheckInput,
)

log = get_logger("nightwatch.inspections")
MAX_BACKFILL = timedelta(days=7)


def schedule_of(doc: InspectionDoc, task_queue: str, paused: bool, note: str | None) -> Schedule:
    plan = doc.schedule
    spec = ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds(plan.every)))]
        if plan.every
        else [],
        cron_expressions=[plan.cron] if plan.cron else [],
        time_zone_name=plan.time_zone,
        jitter=timedelta(seconds=seconds(plan.jitter)) or None,
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            InspectionRunWorkflow.run,
            InspectionRunInput(plan=doc.name),
            id=f"{store.schedule_id(doc.name)}-run",
            task_queue=task_queue,
        ),
        spec=spec,
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(seconds=seconds(plan.catchup_window)),
        ),
        state=ScheduleState(paused=paused, note=note or None),
    )


async def follow_execution(client: Client, task_queue: str, recheck: RecheckInput) -> None:
    """Re-check the target when the execution started for its failure ends (once)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            InspectionRecheckWorkflow.run,
            recheck,
            id=f"recheck-{recheck.execution_id}",
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


class InspectionsUnavailable(NightwatchError):
    """Temporal did not answer: nothing about the Schedule changed (HTTP 503)."""


class Inspections:
    def __init__(self, client: Client, task_queue: str, *, database_url: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self._sessions = session_factory(database_url)

    async def apply(
        self, doc: InspectionDoc, user: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Store the plan (a new version if it changed), then make its Schedule match."""

        def save() -> tuple[str, int, bool, str | None]:
            with self._sessions() as session:
                outcome, row = store.save_plan(session, doc, user, expected_version)
                session.commit()
                return outcome, row.version, row.paused, row.pause_note

        outcome, version, paused, note = await asyncio.to_thread(save)
        schedule = schedule_of(doc, self.task_queue, paused, note)
        sid = store.schedule_id(doc.name)
        try:
            try:
                await self.client.create_schedule(sid, schedule)
                synced = "created"
            except ScheduleAlreadyRunningError:

                def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                    return ScheduleUpdate(schedule=schedule)

                await self.client.get_schedule_handle(sid).update(replace)
                synced = "updated"
        except RPCError as exc:
            raise InspectionsUnavailable(
                "temporal",
                f"the plan is stored (version {version}); its Schedule was not "
                f"changed: {exc.message} — apply again when Temporal answers",
            ) from None
        log.info("inspection plan applied", plan=doc.name, version=version, by=user)
        return {"name": doc.name, "outcome": outcome, "version": version, "schedule": synced}

    async def describe(self, name: str) -> dict[str, Any]:
        """The plan with its Schedule: paused (and why), next runs, missed and recent runs."""

        def read() -> dict[str, Any]:
            with self._sessions() as session:
                row = store.get_plan(session, name)
                return {
                    "name": row.name,
                    "description": row.description,
                    "version": row.version,
                    "document": row.document,
                    "updated_by": row.updated_by,
                    "updated_at": row.updated_at,
                    "states": store.states(session, row.id),
                    "runs": store.runs(session, row.id, limit=10),
                }

        plan = await asyncio.to_thread(read)
        return {**plan, "schedule": await self._schedule(name, plan["document"])}

    async def _schedule(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        try:
            described = await self.client.get_schedule_handle(store.schedule_id(name)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return {"present": False, "reason": "no Schedule: apply the plan again"}
            return {"present": None, "reason": f"Temporal did not answer: {exc.message}"}
        info, state = described.info, described.schedule.state
        doc = InspectionDoc.model_validate(document)
        return {
            "present": True,
            "paused": state.paused,
            "note": state.note,
            "next_runs": [t.isoformat() for t in info.next_action_times[:3]]
            or [t.isoformat() for t in next_runs(doc.schedule)],
            "runs": info.num_actions,
            "missed_catchup_window": info.num_actions_missed_catchup_window,
            "skipped_overlap": info.num_actions_skipped_overlap,
            "running": [
                a.workflow_id
                for a in info.running_actions
                if isinstance(a, ScheduleActionExecutionStartWorkflow)
            ],
            "recent": [
                {
                    "scheduled_at": a.scheduled_at.isoformat(),
                    "started_at": a.started_at.isoformat(),
                    "workflow_id": a.action.workflow_id
                    if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
                    else None,
                }
                for a in info.recent_actions[-5:]
            ],
        }

    async def list(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self._sessions() as session:
                listed = []
                for row in store.list_plans(session):
                    last = store.runs(session, row.id, limit=1)
                    failing = sum(1 for s in store.states(session, row.id) if s["failing"])
                    listed.append(
                        {
                            "name": row.name,
                            "version": row.version,
                            "checks": len(row.document["checks"]),
                            "schedule": row.document["schedule"],
                            "paused": row.paused,
                            "pause_note": row.pause_note,
                            "failing": failing,
                            "last_run": last[0] if last else None,
                        }
                    )
                return listed

        return await asyncio.to_thread(read)

    async def pause(self, name: str, note: str, user: str) -> dict[str, Any]:
        return await self._pause(name, True, f"{note} ({user})")

    async def resume(self, name: str, note: str, user: str) -> dict[str, Any]:
        return await self._pause(name, False, f"{note} ({user})" if note else None)

    async def _pause(self, name: str, paused: bool, note: str | None) -> dict[str, Any]:
        await asyncio.to_thread(self._require, name)
        handle = self.client.get_schedule_handle(store.schedule_id(name))
        try:
            if paused:
                await handle.pause(note=note or "paused")
            else:
                await handle.unpause(note=note or "resumed")
        except RPCError as exc:
            raise self._unavailable(name, exc) from None

        def record() -> None:
            with self._sessions() as session:
                row = store.get_plan(session, name)
                row.paused, row.pause_note = paused, note if paused else None
                session.commit()

        await asyncio.to_thread(record)
        log.info("inspection plan paused" if paused else "inspection plan resumed", plan=name)
        return {"name": name, "paused": paused, "note": note}

    async def run_now(self, name: str, user: str) -> dict[str, Any]:
        """Start a run at once, recorded as MANUAL with who asked (the Schedule is untouched)."""
        await asyncio.to_thread(self._require, name)
        workflow_id = f"{store.schedule_id(name)}-manual-{uuid.uuid4().hex[:12]}"
        try:
            await self.client.start_workflow(
                InspectionRunWorkflow.run,
                InspectionRunInput(plan=name, trigger="MANUAL", requested_by=user),
                id=workflow_id,
                task_queue=self.task_queue,
            )
        except RPCError as exc:
            raise self._unavailable(name, exc) from None
        log.info("inspection run requested", plan=name, by=user, workflow_id=workflow_id)
        return {"name": name, "workflow_id": workflow_id}

    async def backfill(
        self, name: str, start: datetime, end: datetime, user: str
    ) -> dict[str, Any]:
        """Runs for the scheduled times in [start, end), as if they had happened."""
        if start.tzinfo is None or end.tzinfo is None:
            raise NightwatchError("start", "give times with a UTC offset")
        if end <= start:
            raise NightwatchError("end", "must be after start")
        if end - start > MAX_BACKFILL:
            raise NightwatchError("end", "back-fill at most 7 days at a time")
        await asyncio.to_thread(self._require, name)
        handle = self.client.get_schedule_handle(store.schedule_id(name))
        try:
            await handle.backfill(
                ScheduleBackfill(
                    start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL
                )
            )
        except RPCError as exc:
            raise self._unavailable(name, exc) from None
        log.info("inspection back-fill", plan=name, start=start, end=end, by=user)
        return {"name": name, "start": start.isoformat(), "end": end.isoformat()}

    async def delete(self, name: str, user: str) -> dict[str, Any]:
        try:
            await self.client.get_schedule_handle(store.schedule_id(name)).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise self._unavailable(name, exc) from None

        def remove() -> None:
            with self._sessions() as session:
                store.delete_plan(session, name)
                session.commit()

        await asyncio.to_thread(remove)
        log.info("inspection plan deleted", plan=name, by=user)
        return {"deleted": name}

    def _require(self, name: str) -> None:
        with self._sessions() as session:
            store.get_plan(session, name)

    @staticmethod
    def _unavailable(name: str, exc: RPCError) -> NightwatchError:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return NotFound(name, "the plan has no Schedule: apply it again")
        return InspectionsUnavailable("temporal", f"Temporal did not answer: {exc.message}")
