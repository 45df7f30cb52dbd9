"""The activities of an inspection run: expand the plan, run checks in batches, conclude.

Results are written as they come (a batch's retry skips the stored ones, so a killed worker
neither loses nor repeats a result); the work list lives on the run's row, so the workflow
history carries only batch bounds and counts.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.inspection_state import Concluder, Failure, open_missed_runs_event
from activities.probes import Observation, ProbeEnv, observe
from catalog.checks import CHECKS_BY_CODE, CheckSpec
from inspection.conditions import Condition, Outcome
from inspection.model import Check, Every, InspectionDoc, conditions_of, render, seconds
from nightwatch.logs import get_logger
from nightwatch.metrics import INSPECTION_RESULTS
from platforms.dap import DapClient
from storage.db import async_session_factory
from workflows.inspection import (
    BatchCounts,
    BeginRun,
    ConcludeRun,
    ExecutionEnded,
    RunBatch,
    RunPlan,
    RunSummary,
)

log = get_logger("nightwatch.activities.inspection")
BATCH_SHARE = 25  # checks at once per batch activity: concurrency 100 → 4 batches at once
FLUSH_EVERY = 200  # results written per statement
HEARTBEAT_SECONDS = 5.0  # a batch heartbeats at least this often, slow checks or not
# Starts plans for new failures the routing rules match (the worker wires the intake's
# routing and the execution service in: activities import neither).
Router = Callable[[list[Failure]], Awaitable[list[str]]]


class InspectionActivities:
    def __init__(self, database_url: str, router: Router | None = None) -> None:
        self._url = database_url
        self._env = ProbeEnv(database_url)
        self._router = router

    # -- begin -------------------------------------------------------------------------------

    @activity.defn
    async def begin_inspection_run(self, params: BeginRun) -> RunPlan:
        """Expand the plan's targets, store the run with its work list (idempotent)."""
        async with async_session_factory(self._url)() as session:
            plan = (
                await session.execute(
                    text(
                        "select id, name, version, document, schedule_id, missed_runs "
                        "from inspection_plan where name = :name and deleted_at is null"
                    ),
                    {"name": params.plan},
                )
            ).one_or_none()
            if plan is None:
                raise ApplicationError(
                    f"no inspection plan {params.plan!r}", type="NotFound", non_retryable=True
                )
            existing = (
                await session.execute(
                    text(
                        "select id, jsonb_array_length(work) from inspection_run "
                        "where workflow_id = :id"
                    ),
                    {"id": params.workflow_id},
                )
            ).one_or_none()
            doc = InspectionDoc.model_validate(plan.document)
            trigger = _trigger(params, doc)
            if existing is not None:
                run_id, count = int(existing[0]), int(existing[1])
            else:
                work = await self._expand(doc, params)
                run_id = (
                    await session.execute(
                        text(
                            "insert into inspection_run (workflow_id, plan_id, plan_version, "
                            "trigger, state, scheduled_at, checks, work, counts, changes) "
                            "values (:wf, :plan, :version, :trigger, 'RUNNING', :scheduled, "
                            ":checks, cast(:work as jsonb), '{}', '{}') "
                            "on conflict (workflow_id) do update set state = inspection_run.state "
                            "returning id"
                        ),
                        {
                            "wf": params.workflow_id,
                            "plan": plan.id,
                            "version": plan.version,
                            "trigger": trigger,
                            "scheduled": params.scheduled_at,
                            "checks": len(work),
                            "work": json.dumps(work),
                        },
                    )
                ).scalar_one()
                count = len(work)
            if trigger == "SCHEDULE":
                await self._missed_runs(session, plan)
            await session.commit()
        parallel = max(1, min(8, doc.limits.concurrency // BATCH_SHARE, count))
        size = max(1, min(doc.limits.batch, math.ceil(count / parallel))) if count else 1
        batches = [(start, min(start + size, count)) for start in range(0, count, size)]
        share = max(1, doc.limits.concurrency // parallel)
        slowest = max((c.params.get("timeout_ms", 5000) for c in doc.checks), default=5000)
        timeout = int(math.ceil(size / share) * (slowest / 1000 + 1) + 120)
        return RunPlan(
            run_id=int(run_id),
            plan_id=int(plan.id),
            checks=count,
            batches=batches,
            parallel=parallel,
            concurrency=doc.limits.concurrency,
            per_target=doc.limits.per_target,
            batch_timeout_seconds=timeout,
        )

    async def _expand(self, doc: InspectionDoc, params: BeginRun) -> list[dict[str, Any]]:
        wanted = {(o.check, o.target) for o in params.only}
        checks = {o.check for o in params.only}
        work: list[dict[str, Any]] = []
        for check in doc.checks:
            if checks and check.name not in checks:
                continue
            for target, resource, values in await self._targets(check, params.workflow_id):
                if wanted and (check.name, target) not in wanted:
                    continue
                work.append(
                    {
                        "check": check.name,
                        "kind": check.kind,
                        "severity": check.severity,
                        "target": target,
                        "resource": resource,
                        "host": _host(values),
                        "params": values,
                    }
                )
        return work

    async def _targets(self, check: Check, run: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(target key, resource key, parameters) for each target of the check."""
        spec = CHECKS_BY_CODE[check.kind]
        if isinstance(check.targets, Every):
            found = []
            for variables in await self._inventory(check.targets, run):
                values = render(check.params, variables)
                target = "/".join(variables[k] for k in ("app", "instance") if k in variables)
                found.append((target, _resource(spec, check, values, variables), values))
            return found
        overrides = check.targets or [{}]
        found, seen = [], set()
        for override in overrides:
            values = {**check.params, **override}
            target = _target_key(spec, check, values)
            while target in seen:
                target += "+"
            seen.add(target)
            found.append((target, _resource(spec, check, values, {}), values))
        return found

    async def _inventory(self, every: Every, run: str) -> list[dict[str, str]]:
        endpoint = await self._env.platform(run, "inventory").endpoint("dap")
        async with DapClient(endpoint) as dap:
            if every.source == "apps":
                return [{"app": app} for app in await dap.apps()]
            assert every.app is not None
            instances = await dap.instances(every.app)
        return [{"app": every.app, "instance": i.name, "node": i.node or ""} for i in instances]

    async def _missed_runs(self, session: AsyncSession, plan: Any) -> None:
        """A run missed while Temporal was away past the catch-up window is a risk event."""
        try:
            described = await activity.client().get_schedule_handle(plan.schedule_id).describe()
        except RPCError as exc:
            log.warning("schedule not described", schedule=plan.schedule_id, error=str(exc))
            return
        missed = described.info.num_actions_missed_catchup_window
        if missed > plan.missed_runs:
            await session.execute(
                text("update inspection_plan set missed_runs = :n where id = :id"),
                {"n": missed, "id": plan.id},
            )
            await open_missed_runs_event(session, plan.name, missed, missed - plan.missed_runs)

    # -- batches -----------------------------------------------------------------------------

    @activity.defn
    async def run_inspection_batch(self, params: RunBatch) -> BatchCounts:
        """Run checks [start, end) of the run; results already stored are not run again."""
        async with async_session_factory(self._url)() as session:
            row = (
                await session.execute(
                    text(
                        "select r.plan_id, r.workflow_id, p.document, "
                        "(select coalesce(jsonb_agg(e order by i), '[]') "
                        "   from jsonb_array_elements(r.work) with ordinality t(e, i) "
                        "  where i > :start and i <= :end) as work "
                        "from inspection_run r join inspection_plan p on p.id = r.plan_id "
                        "where r.id = :id"
                    ),
                    {"id": params.run_id, "start": params.start, "end": params.end},
                )
            ).one()
            done = {
                (check, target)
                for check, target in await session.execute(
                    text("select check_name, target from inspection_result where run_id = :id"),
                    {"id": params.run_id},
                )
            }
        doc = InspectionDoc.model_validate(row.document)
        checks = {check.name: check for check in doc.checks}
        conditions = {check.name: conditions_of(check) for check in doc.checks}
        todo = [item for item in row.work if (item["check"], item["target"]) not in done]
        counts = BatchCounts(resumed=len(row.work) - len(todo))
        writer = _ResultWriter(self._url, params.run_id, row.plan_id, counts, len(row.work))
        writer.plan_name = str(row.document.get("name") or row.plan_id)
        room = asyncio.Semaphore(params.concurrency)
        hosts: dict[str, asyncio.Semaphore] = {}

        async def one(item: dict[str, Any]) -> None:
            host = hosts.setdefault(item["host"], asyncio.Semaphore(params.per_target))
            async with room, host:
                result = await self._check(
                    checks.get(item["check"]), conditions.get(item["check"]), item, row.workflow_id
                )
            await writer.add(result)

        ticker = asyncio.create_task(_heartbeat_every(HEARTBEAT_SECONDS, writer))
        try:
            await asyncio.gather(*(one(item) for item in todo))
            await writer.flush()
        finally:
            ticker.cancel()
        return counts

    async def _check(
        self,
        check: Check | None,
        conditions: tuple[list[Condition], list[Condition]] | None,
        item: dict[str, Any],
        run: str,
    ) -> dict[str, Any]:
        spec = CHECKS_BY_CODE[item["kind"]]
        checked_at = datetime.now(UTC)
        started = time.perf_counter()
        failures: list[str] = []
        warnings: list[str] = []
        if check is None or conditions is None:
            observation = Observation(error="the check left the plan during the run")
        else:
            try:
                values = spec.params.model_validate(item["params"])
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"])
                observation = Observation(error=f"params.{where}: {error['msg']}")
            else:
                observation = await observe(item["kind"], values, self._env, run)
                failing, warning = conditions
                failures = _failed(failing, observation.observed)
                warnings = _failed(warning, observation.observed)
        if observation.error is not None:
            failures.insert(0, f"error: {observation.error}")
        outcome = "FAIL" if failures else ("WARN" if warnings else "PASS")
        return {
            "check_name": item["check"],
            "kind": item["kind"],
            "target": item["target"],
            "resource": item["resource"],
            "outcome": outcome,
            "failures": json.dumps(failures + [f"warn: {w}" for w in warnings]),
            "observed": json.dumps(_storable(observation.observed), default=str),
            "evidence": observation.evidence[:2000] or None,
            "duration_ms": int((time.perf_counter() - started) * 1000),
            "checked_at": checked_at,
        }

    # -- conclude ----------------------------------------------------------------------------

    @activity.defn
    async def conclude_inspection_run(self, params: ConcludeRun) -> RunSummary:
        """Flapping state, risk events, routed plans, notifications; the run's end."""
        concluder = Concluder(self._url, params)
        summary = await concluder.conclude()
        if concluder.new_failures and self._router is not None:
            started = await self._router(concluder.new_failures)
            summary = summary.model_copy(update={"started": started})
        summary = summary.model_copy(update={"notified": await concluder.notify()})
        await concluder.finish(summary)
        await concluder.purge_old_results()
        return summary

    # -- re-check --------------------------------------------------------------------------

    @activity.defn
    async def await_execution_end(self, execution_id: str) -> ExecutionEnded:
        """Wait (heartbeating) until the execution's workflow closes."""
        client: Client = activity.client()
        handle = client.get_workflow_handle(execution_id)
        while True:
            described = await handle.describe()
            if described.status not in (None, WorkflowExecutionStatus.RUNNING):
                return ExecutionEnded(execution_id=execution_id, state=described.status.name)
            activity.heartbeat()
            await asyncio.sleep(2)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.begin_inspection_run,
            self.run_inspection_batch,
            self.conclude_inspection_run,
            self.await_execution_end,
        ]


class _ResultWriter:
    """Writes results FLUSH_EVERY at a time (at most a second late) and heartbeats."""

    def __init__(
        self, url: str, run_id: int, plan_id: int, counts: BatchCounts, total: int
    ) -> None:
        self._url, self._run, self._plan = url, run_id, plan_id
        self._counts, self._total = counts, total
        self._pending: list[dict[str, Any]] = []
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    plan_name = "?"

    async def add(self, result: dict[str, Any]) -> None:
        self._pending.append(result)
        outcome = result["outcome"]
        INSPECTION_RESULTS.labels(self.plan_name, result.get("check_name", "?"), outcome).inc()
        if outcome == "PASS":
            self._counts.passed += 1
        elif outcome == "WARN":
            self._counts.warned += 1
        else:
            self._counts.failed += 1
        if len(self._pending) >= FLUSH_EVERY or time.monotonic() - self._last > 1:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            self._last = time.monotonic()
            if rows:
                async with async_session_factory(self._url)() as session:
                    await session.execute(
                        text(
                            "insert into inspection_result (run_id, plan_id, check_name, kind, "
                            "target, resource, outcome, failures, observed, evidence, "
                            "duration_ms, checked_at) values (:run, :plan, :check_name, :kind, "
                            ":target, :resource, :outcome, cast(:failures as jsonb), "
                            "cast(:observed as jsonb), :evidence, :duration_ms, :checked_at) "
                            "on conflict (run_id, check_name, target) do nothing"
                        ),
                        [{"run": self._run, "plan": self._plan, **row} for row in rows],
                    )
                    await session.commit()
            if activity.in_activity():
                c = self._counts
                activity.heartbeat({"done": c.passed + c.warned + c.failed + c.resumed})


async def _heartbeat_every(seconds: float, writer: _ResultWriter) -> None:
    while True:
        await asyncio.sleep(seconds)
        await writer.flush()


def _trigger(params: BeginRun, doc: InspectionDoc) -> str:
    """A scheduled time older than the catch-up window (and a minute) is a back-fill."""
    if params.trigger != "SCHEDULE" or params.scheduled_at is None:
        return params.trigger
    late = datetime.now(UTC) - params.scheduled_at
    window = timedelta(seconds=seconds(doc.schedule.catchup_window) + 60)
    return "BACKFILL" if late > window else "SCHEDULE"


def _failed(conditions: list[Condition], observed: dict[str, Any]) -> list[str]:
    outcomes: list[Outcome] = [c.evaluate(observed) for c in conditions]
    return [o.describe() for o in outcomes if not o.passed]


def _storable(observed: dict[str, Any]) -> dict[str, Any]:
    """What is kept of an observation: bodies and headers trimmed (evidence has the gist)."""
    kept = dict(observed)
    if isinstance(kept.get("body"), str) and len(kept["body"]) > 1000:
        kept["body"] = kept["body"][:1000] + "…"
    kept.pop("headers", None)
    if "json" in kept and len(json.dumps(kept["json"], default=str)) > 4000:
        kept["json"] = "(larger than 4000 characters: not kept)"
    return kept


def _host(values: dict[str, Any]) -> str:
    """The host a check talks to: checks on one host share its per-target limit."""
    for key in ("url", "server"):
        if isinstance(values.get(key), str):
            return urlsplit(values[key]).netloc or str(values[key])
    for key in ("host", "name", "app", "service", "gateway_group"):
        if isinstance(values.get(key), str):
            return str(values[key])
    return "-"


def _target_key(spec: CheckSpec, check: Check, values: dict[str, Any]) -> str:
    value = values.get(spec.resource_param) if spec.resource_param else None
    if spec.code in ("tcp", "tls") and value is not None:
        return f"{value}:{values.get('port', 443)}"
    if spec.code == "postgres" or value is None:
        return check.name
    return str(value)[:500]


def _resource(
    spec: CheckSpec, check: Check, values: dict[str, Any], variables: dict[str, str]
) -> str:
    """The resource key (docs/inspection.md): what an alert names to meet this check."""
    if check.resource:
        return str(render({"r": check.resource}, {**variables, **_strings(values)})["r"])
    value = values.get(spec.resource_param) if spec.resource_param else None
    if spec.code == "http" and isinstance(value, str):
        parts = urlsplit(value)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"endpoint:{parts.hostname}:{port}"
    if spec.code in ("tcp", "tls"):
        return f"endpoint:{value}:{values.get('port', 443)}"
    if spec.code == "postgres":
        return f"database:{check.name}"
    if spec.code == "gateway_drift":
        return f"api:{values.get('gateway_group')}{values.get('api_path')}"
    if spec.code == "iam_degraded":
        return "iam:iam"
    if "instance" in variables:
        return f"instance:{variables['app']}/{variables['instance']}"
    return f"{spec.resource_kind}:{value}"


def _strings(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if isinstance(v, str | int | float)}
