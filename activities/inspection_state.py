"""What a finished inspection run changes: flapping state, risk events, the run's summary.

Per (plan, check, target) `inspection_state` keeps the last results (newest last: P pass,
W warn, F fail). A passing target turns failing once `fail_after` of the last `window`
results failed; a failing one recovers after `recover_after` passes in a row; ten results
with four or more changes between pass and fail mark it flapping. A failing target has one
open risk event (source `inspection`, one per failing episode): every run that sees it
updates it (count, last seen, last value) and is linked to it; recovery resolves it.
During a maintenance window results are recorded and the state moves, but no event opens.
An open alert on the same resource (within `inspection.merge_window_minutes`) is joined
instead of opening a second event. Everything here is idempotent: a retried conclusion
changes nothing twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.notify import RunReport, push
from catalog.system_config import CONFIGS_BY_KEY
from inspection.model import InspectionDoc, seconds
from nightwatch.logs import get_logger
from nightwatch.metrics import INSPECTION_MISSED_RUNS
from storage.db import async_session_factory
from workflows.inspection import ConcludeRun, RunSummary

log = get_logger("nightwatch.activities.inspection")
KEEP = 20  # results kept per target in the flapping window
FLAP_SPAN, FLAP_CHANGES = 10, 4


@dataclass
class Failure:
    """A target that turned failing in this run (what routing and notifications need)."""

    plan: str
    check: str
    kind: str
    target: str
    resource: str
    severity: str
    failures: list[str]
    risk_event: int
    run_id: int
    new_event: bool = True
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Change:
    check: str
    target: str
    outcome: str
    failures: list[str]
    risk_event: int | None = None


STATE_UPSERT = text(
    "insert into inspection_state (plan_id, check_name, target, recent, failing, flapping, "
    "since, last_run_id, risk_event_id, notified_at) values (:plan, :check, :target, :recent, "
    ":failing, :flapping, :since, :run, :event, :notified) on conflict (plan_id, check_name, "
    "target) do update set recent = excluded.recent, failing = excluded.failing, flapping = "
    "excluded.flapping, since = excluded.since, last_run_id = excluded.last_run_id, "
    "risk_event_id = excluded.risk_event_id, notified_at = excluded.notified_at"
)


def transitions(recent: str) -> int:
    span = ["F" if c == "F" else "P" for c in recent[-FLAP_SPAN:]]
    return sum(1 for a, b in itertools.pairwise(span) if a != b)


def next_state(recent: str, failing: bool, doc: InspectionDoc) -> bool:
    """Failing after this result? (`recent` includes it.)"""
    flapping = doc.flapping
    if not failing:
        return recent[-flapping.window :].count("F") >= flapping.fail_after
    tail = recent[-flapping.recover_after :]
    return not (len(tail) >= flapping.recover_after and "F" not in tail)


def _fingerprint(plan: str, check: str, target: str) -> str:
    return hashlib.sha256(f"{plan}\0{check}\0{target}".encode()).hexdigest()[:40]


async def _config(session: AsyncSession, key: str) -> Any:
    row = (
        await session.execute(text("select value from system_config where key = :k"), {"k": key})
    ).scalar_one_or_none()
    spec = CONFIGS_BY_KEY[key]
    return spec.parse(row["value"]) if row and row.get("value") is not None else spec.default


class Concluder:
    def __init__(self, url: str, params: ConcludeRun) -> None:
        self._url = url
        self._params = params
        self.new_failures: list[Failure] = []
        self.report: RunReport | None = None

    async def conclude(self) -> RunSummary:
        async with async_session_factory(self._url)() as session:
            run = (
                await session.execute(
                    text(
                        "select r.id, r.plan_id, r.trigger, r.state, r.counts, r.changes, p.name, "
                        "p.document from inspection_run r join inspection_plan p "
                        "on p.id = r.plan_id where r.id = :id for update of r"
                    ),
                    {"id": self._params.run_id},
                )
            ).one()
            doc = InspectionDoc.model_validate(run.document)
            if run.state in ("CONCLUDING", "COMPLETED"):  # a retry: report what was done
                summary = RunSummary.model_validate(run.counts)
                # Routing starts each execution once (ids from plan, rule and event): a
                # conclusion cut short before it routed routes now.
                self.new_failures = [Failure(**f) for f in run.changes.get("routing", [])]
                self.report = (
                    RunReport.model_validate(
                        {**run.counts["report"], "channels": doc.notify.channels}
                    )
                    if "report" in run.counts
                    else None
                )
                return summary
            results = (
                await session.execute(
                    text(
                        "select check_name, kind, target, resource, outcome, failures, "
                        "observed from inspection_result where run_id = :id "
                        "order by check_name, target"
                    ),
                    {"id": run.id},
                )
            ).all()
            summary = await self._apply(session, run, doc, results)
            await session.commit()
        return summary

    async def _apply(
        self, session: AsyncSession, run: Any, doc: InspectionDoc, results: Sequence[Any]
    ) -> RunSummary:
        now = datetime.now(UTC)
        severity = {check.name: check.severity for check in doc.checks}
        kinds = {check.name: check.kind for check in doc.checks}
        states = {
            (row.check_name, row.target): row
            for row in await session.execute(
                text(
                    "select check_name, target, recent, failing, since, risk_event_id, "
                    "notified_at from inspection_state where plan_id = :plan for update"
                ),
                {"plan": run.plan_id},
            )
        }
        merge_minutes = int(await _config(session, "inspection.merge_window_minutes"))
        remind = seconds(doc.notify.remind_every) if doc.notify.remind_every else None
        new, recovered, still, reminded = [], [], [], []
        counts = {"PASS": 0, "WARN": 0, "FAIL": 0}
        opened = 0
        written: list[dict[str, Any]] = []
        for result in results:
            counts[result.outcome] += 1
            key = (result.check_name, result.target)
            before = states.get(key)
            letter = result.outcome[0]
            recent = ((before.recent if before else "") + letter)[-KEEP:]
            was_failing = bool(before and before.failing)
            failing = next_state(recent, was_failing, doc)
            flapping = transitions(recent) >= FLAP_CHANGES
            since = before.since if before and failing == was_failing else now
            event = before.risk_event_id if before else None
            notified = before.notified_at if before else None
            in_maintenance = _maintained(doc, result.check_name, now)
            change = Change(result.check_name, result.target, result.outcome, result.failures)
            if failing:
                if event is None and not in_maintenance:
                    event, created = await self._open_event(
                        session, run, result, severity, since, merge_minutes, flapping
                    )
                    opened += int(created)
                    change.risk_event = event
                    new.append(change)
                    notified = now
                    self.new_failures.append(
                        Failure(
                            plan=run.name,
                            check=result.check_name,
                            kind=kinds.get(result.check_name, result.kind),
                            target=result.target,
                            resource=result.resource,
                            severity=severity.get(result.check_name, "major"),
                            failures=result.failures,
                            risk_event=event,
                            run_id=run.id,
                            new_event=created,
                        )
                    )
                elif event is not None:
                    await self._seen(session, event, run.id, result, flapping)
                    change.risk_event = event
                    due = remind is not None and (
                        notified is None or now - notified >= timedelta(seconds=remind)
                    )
                    if due:
                        reminded.append(change)
                        notified = now
                    still.append(change)
                elif was_failing:
                    still.append(change)
                else:
                    new.append(change)  # failing in maintenance: reported, no event
            elif was_failing:
                if event is not None:
                    await self._resolve(session, event, run.id, doc)
                change.risk_event = event
                recovered.append(change)
                event, notified = None, None
            written.append(
                {
                    "plan": run.plan_id,
                    "check": result.check_name,
                    "target": result.target,
                    "recent": recent,
                    "failing": failing,
                    "flapping": flapping,
                    "since": since,
                    "run": run.id,
                    "event": event,
                    "notified": notified,
                }
            )
        if written:  # one statement for every target (pipelined by psycopg)
            await session.execute(STATE_UPSERT, written)
        if self._params.recheck_event is not None:
            await self._remediated(session, results)
        report = RunReport(
            plan=run.name,
            run_id=run.id,
            trigger=run.trigger,
            checks=len(results),
            passed=counts["PASS"],
            warned=counts["WARN"],
            failed=counts["FAIL"],
            new_failures=[_line(c) for c in new],
            recoveries=[_line(c) for c in recovered],
            still_failing=[_line(c) for c in (reminded if doc.notify.only_changes else still)],
            channels=doc.notify.channels,
            only_changes=doc.notify.only_changes,
        )
        self.report = report
        summary = RunSummary(
            run_id=run.id,
            plan=run.name,
            checks=len(results),
            passed=counts["PASS"],
            warned=counts["WARN"],
            failed=counts["FAIL"],
            new_failures=len(new),
            recoveries=len(recovered),
            still_failing=len(still),
            events_opened=opened,
        )
        changes = {
            "new_failures": [c.__dict__ for c in new],
            "recoveries": [c.__dict__ for c in recovered],
            "still_failing": len(still),
            "routing": [f.__dict__ for f in self.new_failures],
        }
        await session.execute(
            text(
                "update inspection_run set state = 'CONCLUDING', counts = "
                "cast(:counts as jsonb), changes = cast(:changes as jsonb) where id = :id"
            ),
            {
                "id": run.id,
                "counts": json.dumps({**summary.model_dump(), "report": report.model_dump()}),
                "changes": json.dumps(changes, default=str),
            },
        )
        return summary

    async def _open_event(
        self,
        session: AsyncSession,
        run: Any,
        result: Any,
        severity: Mapping[str, str],
        since: datetime,
        merge_minutes: int,
        flapping: bool,
    ) -> tuple[int, bool]:
        """The target's event: an open alert on its resource joined, else a new one."""
        joined = (
            await session.execute(
                text(
                    "select id from risk_event where resource = :resource and state <> "
                    "'RESOLVED' and merged_into is null and last_received_at > now() - "
                    "make_interval(mins => :minutes) order by id limit 1 for update"
                ),
                {"resource": result.resource, "minutes": merge_minutes},
            )
        ).scalar_one_or_none()
        last = "; ".join(result.failures)[:2000]
        if joined is not None:
            await session.execute(
                text(
                    "update risk_event set sources = case when sources ? 'inspection' then "
                    "sources else sources || '[\"inspection\"]' end, last_value = :last "
                    "where id = :id"
                ),
                {"id": joined, "last": last},
            )
            await self._link(session, joined, run.id, result.outcome)
            return int(joined), False
        labels = {
            "source": "inspection",
            "plan": run.name,
            "check": result.check_name,
            "kind": result.kind,
            "target": result.target,
            "resource": result.resource,
            "severity": severity.get(result.check_name, "major"),
        }
        event = (
            await session.execute(
                text(
                    "insert into risk_event (source, fingerprint, episode, alert_name, severity, "
                    "state, labels, annotations, starts_at, deliveries, outcome, resource, "
                    "sources, last_value, flapping) values ('inspection', :fingerprint, "
                    ":episode, :name, :severity, 'OPEN', cast(:labels as jsonb), "
                    "cast(:annotations as jsonb), :since, 0, 'UNROUTED', :resource, "
                    "'[\"inspection\"]', :last, :flapping) on conflict (source, fingerprint, "
                    "episode) do update set last_value = excluded.last_value returning id"
                ),
                {
                    "fingerprint": _fingerprint(run.name, result.check_name, result.target),
                    "episode": since.isoformat(),
                    "name": f"{run.name}/{result.check_name}",
                    "severity": labels["severity"],
                    "labels": json.dumps(labels),
                    "annotations": json.dumps(
                        {"summary": f"{result.check_name} fails on {result.target}"}
                    ),
                    "since": since,
                    "resource": result.resource,
                    "last": last,
                    "flapping": flapping,
                },
            )
        ).scalar_one()
        await self._link(session, event, run.id, result.outcome)
        return int(event), True

    async def _link(self, session: AsyncSession, event: int, run: int, outcome: str) -> None:
        linked = (
            await session.execute(
                text(
                    "insert into risk_event_run (risk_event_id, run_id, outcome) values "
                    "(:event, :run, :outcome) on conflict do nothing returning run_id"
                ),
                {"event": event, "run": run, "outcome": outcome},
            )
        ).scalar_one_or_none()
        if linked is not None:
            await session.execute(
                text(
                    "update risk_event set deliveries = deliveries + 1, last_received_at = now() "
                    "where id = :id"
                ),
                {"id": event},
            )

    async def _seen(
        self, session: AsyncSession, event: int, run: int, result: Any, flapping: bool
    ) -> None:
        await session.execute(
            text("update risk_event set last_value = :last, flapping = :flapping where id = :id"),
            {"id": event, "last": "; ".join(result.failures)[:2000], "flapping": flapping},
        )
        await self._link(session, event, run, result.outcome)

    async def _resolve(self, session: AsyncSession, event: int, run: int, doc: Any) -> None:
        await self._link(session, event, run, "PASS")
        await session.execute(
            text(
                "update risk_event set state = 'RESOLVED', ends_at = now(), reason = coalesce("
                "reason, '') || :why where id = :id and state <> 'RESOLVED' and "
                "source = 'inspection'"
            ),
            {
                "id": event,
                "why": f"recovered: {doc.flapping.recover_after} passing run(s) in a row",
            },
        )

    async def _remediated(self, session: AsyncSession, results: Sequence[Any]) -> None:
        execution = self._params.recheck_execution
        fixed = bool(results) and all(r.outcome != "FAIL" for r in results)
        note = (
            f"fixed by execution {execution}"
            if fixed
            else (f"still failing after execution {execution}")
        )
        await session.execute(
            text("update risk_event set remediation = :note where id = :id"),
            {"id": self._params.recheck_event, "note": note},
        )

    # -- after the run ------------------------------------------------------------------------

    async def finish(self, summary: RunSummary) -> None:
        """The run is over: its counts with what routing started and who was told."""
        counts = summary.model_dump()
        if self.report is not None:
            counts["report"] = self.report.model_dump()
        async with async_session_factory(self._url)() as session:
            await session.execute(
                text(
                    "update inspection_run set state = 'COMPLETED', ended_at = coalesce("
                    "ended_at, now()), counts = cast(:counts as jsonb) where id = :id"
                ),
                {"id": self._params.run_id, "counts": json.dumps(counts)},
            )
            await session.commit()

    async def notify(self) -> list[str]:
        """Push the run's summary to the plan's channels (changes only, by default)."""
        report = self.report
        if report is None or not report.channels or not report.worth_pushing():
            return []
        async with async_session_factory(self._url)() as session:
            channels = await _config(session, "inspection.channels")
        return await push(report, channels)

    async def purge_old_results(self) -> None:
        """Runs (and their results) older than `inspection.retention_days` go, a bounded
        number per run so a backlog drains without one long transaction."""
        async with async_session_factory(self._url)() as session:
            days = int(await _config(session, "inspection.retention_days"))
            await session.execute(
                text(
                    "delete from inspection_run where id in (select id from inspection_run "
                    "where started_at < now() - make_interval(days => :days) limit 500)"
                ),
                {"days": days},
            )
            await session.commit()


def _line(change: Change) -> str:
    first = change.failures[0] if change.failures else change.outcome
    return f"{change.check} on {change.target}: {first}"


def _maintained(doc: InspectionDoc, check: str, now: datetime) -> bool:
    return any(
        window.covers(now)
        for window in doc.maintenance
        if not window.checks or check in window.checks
    )


async def open_missed_runs_event(session: AsyncSession, plan: str, missed: int, newly: int) -> None:
    """Runs the schedule missed past its catch-up window: a risk event of their own."""
    INSPECTION_MISSED_RUNS.labels(plan).inc(max(newly, 0))
    labels = {"source": "inspection", "plan": plan, "check": "(schedule)", "severity": "major"}
    await session.execute(
        text(
            "insert into risk_event (source, fingerprint, episode, alert_name, severity, state, "
            "labels, annotations, starts_at, deliveries, outcome, resource, sources, last_value) "
            "values ('inspection', :fingerprint, :episode, :name, 'major', 'OPEN', "
            "cast(:labels as jsonb), cast(:annotations as jsonb), now(), 1, 'UNROUTED', "
            ":resource, '[\"inspection\"]', :last) on conflict do nothing"
        ),
        {
            "fingerprint": _fingerprint(plan, "(schedule)", "missed"),
            "episode": str(missed),
            "name": f"{plan}/missed runs",
            "labels": json.dumps(labels),
            "annotations": json.dumps(
                {"summary": f"{newly} scheduled run(s) of {plan} missed (Temporal was away)"}
            ),
            "resource": f"inspection:{plan}",
            "last": f"{missed} runs missed in all",
        },
    )
    log.warning("inspection runs missed", plan=plan, missed=missed, newly=newly)
