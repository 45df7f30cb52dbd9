"""The audit report of one execution: what ran, with which parameters, who decided what.

Built from the Temporal history (the source of truth: from Temporal while it keeps it, else
from the archive) and the database rows, and states every place where the two disagree.
Secret parameters are masked everywhere in it; payloads are decrypted with the payload keys.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from audit.archive import fetch_histories
from catalog.registry import SECRET_PARAM_NAMES, secret_params
from nightwatch.codec import KeyRing, PayloadKeyError
from nightwatch.errors import NightwatchError, NotFound
from nightwatch.sealing import masked
from nightwatch.temporal import data_converter
from storage import executions
from storage.db import session_factory
from storage.models import HistoryArchive, RiskEvent
from workflows.models import (
    AlertResolved,
    Decision,
    ExecutionInput,
    ExecutionSnapshot,
    ExecutionView,
    Fill,
    StepRequest,
)

DECISION_UPDATES = {
    "confirm": "CONFIRM",
    "skip": "SKIP",
    "retry": "RETRY",
    "mark_done": "DONE",
    "abort": "ABORT",
}
STEP_BOOKKEEPING = {"create_execution", "record_execution", "send_reminder", "check_database"}


class AuditError(NightwatchError):
    """The report cannot be built (payloads unreadable, nothing to report on)."""


@dataclass
class PersonEvent:
    at: datetime
    workflow_id: str
    via: str  # "update confirm", "signal decide", ...
    node: str
    action: str
    user: str
    comment: str | None = None
    values: dict[str, Any] | None = None
    outcome: str = "accepted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "workflow_id": self.workflow_id,
            "via": self.via,
            "node": self.node,
            "action": self.action,
            "user": self.user,
            "comment": self.comment,
            "values": self.values,
            "outcome": self.outcome,
        }


@dataclass
class StepRun:
    node: str
    action: str
    params: dict[str, Any]
    scheduled_at: datetime
    attempts: int = 0
    outcome: str = "scheduled"
    error: str | None = None
    ended_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "action": self.action,
            "params": self.params,
            "scheduled_at": _iso(self.scheduled_at),
            "attempts": self.attempts,
            "outcome": self.outcome,
            "error": self.error,
            "ended_at": _iso(self.ended_at),
        }


@dataclass
class Parsed:
    """What one workflow history says."""

    workflow_id: str
    run_id: str
    events: int
    started_at: datetime | None = None
    start: ExecutionInput | None = None
    closed: str | None = None
    closed_at: datetime | None = None
    failure: str | None = None
    view: ExecutionView | None = None
    people: list[PersonEvent] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    alert_resolved_at: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


class _Reader:
    def __init__(self, ring: KeyRing | None) -> None:
        self.converter = data_converter(ring)

    async def one(self, payloads: Payloads, hint: type) -> Any:
        if not payloads.payloads:
            return None
        try:
            values = await self.converter.decode(payloads.payloads, [hint])
        except PayloadKeyError as exc:
            raise AuditError("payloads", str(exc)) from None
        except Exception:  # an input of an older shape: report it raw rather than fail
            values = await self.converter.decode(payloads.payloads, [dict])
        return values[0] if values else None

    async def parse(self, history: WorkflowHistory) -> Parsed:
        parsed = Parsed(history.workflow_id, "", len(history.events))
        scheduled: dict[int, StepRun] = {}
        updates: dict[str, PersonEvent] = {}
        attrs: Any
        for event in history.events:
            at = _time(event)
            kind = event.WhichOneof("attributes")
            if kind == "workflow_execution_started_event_attributes":
                attrs = event.workflow_execution_started_event_attributes
                parsed.run_id = attrs.original_execution_run_id
                parsed.started_at = at
                parsed.start = await self.one(attrs.input, ExecutionInput)
            elif kind == "workflow_execution_update_accepted_event_attributes":
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                name = request.input.name
                person = await self._person(
                    at, parsed.workflow_id, f"update {name}", name, request.input.args
                )
                if person is not None:
                    updates[request.meta.update_id] = person
                    parsed.people.append(person)
            elif kind == "workflow_execution_update_completed_event_attributes":
                attrs = event.workflow_execution_update_completed_event_attributes
                person = updates.get(attrs.meta.update_id)
                if person is not None and attrs.outcome.HasField("failure"):
                    person.outcome = f"failed: {attrs.outcome.failure.message}"
            elif kind == "workflow_execution_signaled_event_attributes":
                attrs = event.workflow_execution_signaled_event_attributes
                if attrs.signal_name == "alert_resolved":
                    note = await self.one(attrs.input, AlertResolved)
                    parsed.alert_resolved_at = getattr(note, "ended_at", None) or at
                    continue
                person = await self._person(
                    at,
                    parsed.workflow_id,
                    f"signal {attrs.signal_name}",
                    attrs.signal_name,
                    attrs.input,
                )
                if person is not None:
                    parsed.people.append(person)
            elif kind == "activity_task_scheduled_event_attributes":
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name in STEP_BOOKKEEPING:
                    continue
                request = await self.one(attrs.input, StepRequest)
                if isinstance(request, StepRequest):
                    secret = secret_params(request.action)
                    scheduled[event.event_id] = StepRun(
                        node=request.attempt_note or "",
                        action=request.action,
                        params=masked(request.params, secret),
                        scheduled_at=at,
                    )
                    parsed.steps.append(scheduled[event.event_id])
            elif kind == "activity_task_started_event_attributes":
                attrs = event.activity_task_started_event_attributes
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.attempts = attrs.attempt
                    run.outcome = "started"
                    if attrs.HasField("last_failure"):
                        run.error = attrs.last_failure.message
            elif kind == "activity_task_completed_event_attributes":
                run = scheduled.get(
                    event.activity_task_completed_event_attributes.scheduled_event_id
                )
                if run is not None:
                    run.outcome, run.ended_at = "completed", at
            elif kind == "activity_task_failed_event_attributes":
                attrs = event.activity_task_failed_event_attributes
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.outcome, run.ended_at = "failed", at
                    run.error = _failure_text(attrs.failure)
            elif kind in (
                "activity_task_timed_out_event_attributes",
                "activity_task_canceled_event_attributes",
            ):
                attrs = getattr(event, kind)
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.outcome = "timed out" if "timed_out" in kind else "cancelled"
                    run.ended_at = at
            elif kind == "workflow_execution_completed_event_attributes":
                parsed.closed, parsed.closed_at = "COMPLETED", at
                result = event.workflow_execution_completed_event_attributes.result
                view = await self.one(result, ExecutionView)
                parsed.view = view if isinstance(view, ExecutionView) else None
            elif kind == "workflow_execution_failed_event_attributes":
                parsed.closed, parsed.closed_at = "FAILED", at
                parsed.failure = _failure_text(
                    event.workflow_execution_failed_event_attributes.failure
                )
            elif kind == "workflow_execution_canceled_event_attributes":
                parsed.closed, parsed.closed_at = "CANCELED", at
            elif kind == "workflow_execution_terminated_event_attributes":
                parsed.closed, parsed.closed_at = "TERMINATED", at
                parsed.failure = event.workflow_execution_terminated_event_attributes.reason
            elif kind == "workflow_execution_timed_out_event_attributes":
                parsed.closed, parsed.closed_at = "TIMED_OUT", at
        return parsed

    async def _person(
        self, at: datetime, workflow_id: str, via: str, name: str, args: Payloads
    ) -> PersonEvent | None:
        if name in DECISION_UPDATES or name == "decide":
            decision = await self.one(args, Decision)
            if not isinstance(decision, Decision):
                return None
            action = DECISION_UPDATES.get(name, decision.action.value)
            return PersonEvent(
                at, workflow_id, via, decision.node, action, decision.user, decision.comment
            )
        if name in ("fill_parameters", "fill"):
            fill = await self.one(args, Fill)
            if not isinstance(fill, Fill):
                return None
            values = masked(fill.values, set(SECRET_PARAM_NAMES))
            return PersonEvent(
                at, workflow_id, via, fill.node, "FILL", fill.user, fill.comment, values
            )
        return None


def _failure_text(failure: Any) -> str:
    text = failure.message
    cause = failure
    while cause.HasField("cause"):
        cause = cause.cause
        text = cause.message or text
    return str(text)


# -- the report ---------------------------------------------------------------------------


async def build_report(
    client: Client, database_url: str, execution_id: str, ring: KeyRing | None
) -> dict[str, Any]:
    source, histories = await fetch_histories(client, database_url, execution_id)
    database = _database(database_url, execution_id)
    if not histories and database is None:
        raise NotFound(execution_id, "no such execution in Temporal, the archive or the database")
    reader = _Reader(ring)
    parsed = [await reader.parse(history) for history in histories]
    top = parsed[0] if parsed else None
    nodes = _history_nodes(parsed)
    report: dict[str, Any] = {
        "report": "nightwatch audit",
        "generated_at": _iso(datetime.now(UTC)),
        "execution_id": execution_id,
        "history": {
            "source": source if histories else "none",
            "workflows": [
                {
                    "workflow_id": p.workflow_id,
                    "run_id": p.run_id,
                    "events": p.events,
                    "closed": p.closed,
                }
                for p in parsed
            ],
            "archived": database["archived"] if database else [],
        },
    }
    report["plan"] = _plan(top, database)
    report["trigger"] = _trigger(top, database)
    report["outcome"] = _outcome(top, database)
    report["nodes"] = _nodes(nodes, database)
    report["people"] = [p.as_dict() for run in parsed for p in run.people]
    report["people"].sort(key=lambda p: p["at"])
    report["steps"] = [s.as_dict() for run in parsed for s in run.steps]
    report["differences"] = _differences(parsed, nodes, database)
    report["agrees"] = not report["differences"]
    return report


def _history_nodes(parsed: list[Parsed]) -> dict[str, dict[str, Any]]:
    """Final node views from the histories (a sub-plan's child history wins for its nodes)."""
    found: dict[str, dict[str, Any]] = {}
    for run in parsed:
        if run.view is None:
            continue
        for node in run.view.nodes:
            found[node.key] = node.model_dump(mode="json")
    return found


def _database(database_url: str, execution_id: str) -> dict[str, Any] | None:
    with session_factory(database_url)() as session:
        execution = executions.by_execution_id(session, execution_id)
        if execution is None:
            return None
        rows = executions.nodes_of(session, execution.id)
        snapshot = ExecutionSnapshot.model_validate(execution.plan_snapshot["snapshot"])
        keys = {n.node_id: n.key for top in snapshot.nodes for n in (top, *top.children)}
        secrets = {n.key: n.secret_params for top in snapshot.nodes for n in (top, *top.children)}
        event = session.scalar(select(RiskEvent).where(RiskEvent.execution_id == execution_id))
        archived = session.execute(
            select(HistoryArchive.workflow_id, HistoryArchive.sha256, HistoryArchive.archived_at)
            .where(HistoryArchive.execution_id == execution_id)
            .order_by(HistoryArchive.id)
        ).all()
        return {
            "state": execution.state,
            "error": execution.error,
            "triggered_by": execution.triggered_by,
            "trigger_kind": execution.trigger_kind,
            "overrides": {
                k: masked(v, set(SECRET_PARAM_NAMES))
                for k, v in (execution.overrides or {}).items()
            },
            "started_at": execution.started_at or execution.created_at,
            "ended_at": execution.ended_at,
            "plan_id": execution.plan_id,
            "plan_version": execution.plan_version,
            "document": execution.plan_snapshot.get("document"),
            "snapshot": snapshot,
            "nodes": {
                keys.get(row.id, f"row {row.id}"): {
                    "name": row.name,
                    "state": row.state,
                    "params": masked(row.parameters or {}, secrets.get(keys.get(row.id, ""), [])),
                    "attempts": row.attempts,
                    "decisions": row.decisions or [],
                    "error": row.error,
                    "output": row.output,
                    "started_at": _iso(row.started_at),
                    "ended_at": _iso(row.ended_at),
                }
                for row in rows
            },
            "alert": None
            if event is None
            else {
                "source": event.source,
                "alert": event.alert_name,
                "severity": event.severity,
                "fingerprint": event.fingerprint,
                "labels": event.labels,
                "annotations": event.annotations,
                "starts_at": _iso(event.starts_at),
                "ends_at": _iso(event.ends_at),
            },
            "archived": [
                {"workflow_id": w, "sha256": s, "archived_at": _iso(a)} for w, s, a in archived
            ],
        }


def _plan(top: Parsed | None, database: dict[str, Any] | None) -> dict[str, Any]:
    view = top.view if top else None
    plan: dict[str, Any] = {}
    if database:
        snapshot: ExecutionSnapshot = database["snapshot"]
        plan = {
            "name": snapshot.plan_name,
            "id": snapshot.plan_id,
            "version": snapshot.plan_version,
            "scene": snapshot.scene,
            "snapshot": database["document"],
        }
    elif view:
        plan = {
            "name": view.plan,
            "id": view.plan_id,
            "version": view.plan_version,
            "scene": view.scene,
            "snapshot": None,
        }
    return plan


def _trigger(top: Parsed | None, database: dict[str, Any] | None) -> dict[str, Any]:
    start = top.start if top and isinstance(top.start, ExecutionInput) else None
    trigger: dict[str, Any] = {}
    if start is not None:
        trigger = {
            "kind": start.trigger_kind,
            "by": start.triggered_by,
            "details": start.trigger_details,
            "overrides": {
                k: masked(v, set(SECRET_PARAM_NAMES)) for k, v in start.overrides.items()
            },
            "rerun_of": start.rerun_of,
            "rerun_from": start.rerun_from,
        }
    elif database:
        trigger = {
            "kind": database["trigger_kind"],
            "by": database["triggered_by"],
            "overrides": database["overrides"],
        }
    if database and database["alert"]:
        trigger["alert"] = database["alert"]
    if top and top.alert_resolved_at:
        trigger["alert_resolved_at"] = _iso(top.alert_resolved_at)
    return trigger


def _outcome(top: Parsed | None, database: dict[str, Any] | None) -> dict[str, Any]:
    started = top.started_at if top else database["started_at"] if database else None
    ended = top.closed_at if top and top.closed else database["ended_at"] if database else None
    state = top.view.state if top and top.view else None
    if top and not top.view and top.closed:
        state = {"CANCELED": "CANCELLED"}.get(top.closed, top.closed)
    return {
        "state": state or (database["state"] if database else None),
        "workflow": top.closed if top else None,
        "error": (top.failure if top else None) or (database["error"] if database else None),
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "duration_seconds": round((ended - started).total_seconds(), 3)
        if started and ended
        else None,
    }


def _nodes(history: dict[str, dict[str, Any]], database: dict[str, Any] | None) -> list[Any]:
    rows = database["nodes"] if database else {}
    keys = list(dict.fromkeys([*history, *rows]))
    nodes = []
    for key in keys:
        seen = history.get(key) or {}
        row = rows.get(key) or {}
        nodes.append(
            {
                "key": key,
                "name": seen.get("name") or row.get("name"),
                "action": seen.get("action"),
                "state": seen.get("state") or row.get("state"),
                "params": seen.get("params") if seen else row.get("params"),
                "attempts": seen.get("attempts", row.get("attempts")),
                "decisions": seen.get("decisions") if seen else row.get("decisions"),
                "error": seen.get("error") or row.get("error"),
                "output": seen.get("output") if seen else row.get("output"),
                "started_at": seen.get("started_at") or row.get("started_at"),
                "ended_at": seen.get("ended_at") or row.get("ended_at"),
            }
        )
    return nodes


def _decision_keys(decisions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((str(d.get("action")), str(d.get("user"))) for d in decisions)


def _differences(
    parsed: list[Parsed], history: dict[str, dict[str, Any]], database: dict[str, Any] | None
) -> list[dict[str, Any]]:
    differences: list[dict[str, Any]] = []

    def differ(where: str, seen: Any, stored: Any) -> None:
        differences.append({"where": where, "history": seen, "database": stored})

    if database is None:
        differ("execution", "present", "no execution row")
        return differences
    if not parsed:
        differ("execution", "no history in Temporal nor in the archive", "present")
        return differences
    top = parsed[0]
    if top.view is not None and top.view.state != database["state"]:
        differ("execution.state", top.view.state, database["state"])
    elif top.view is None and top.closed:
        expected = {"CANCELED": "CANCELLED"}.get(top.closed)
        if expected != database["state"]:
            differ("execution.state", f"workflow {top.closed}", database["state"])
    if top.closed and database["ended_at"] is None:
        differ("execution.ended_at", _iso(top.closed_at), None)
    for key, seen in history.items():
        row = database["nodes"].get(key)
        if row is None:
            differ(f"nodes.{key}", "present", "no row")
            continue
        for name in ("state", "attempts", "params"):
            if seen.get(name) != row.get(name):
                differ(f"nodes.{key}.{name}", seen.get(name), row.get(name))
        if _decision_keys(seen.get("decisions") or []) != _decision_keys(row["decisions"]):
            differ(
                f"nodes.{key}.decisions",
                _decision_keys(seen.get("decisions") or []),
                _decision_keys(row["decisions"]),
            )
    # Every accepted person's act in the histories is on its node in the database.
    for run in parsed:
        for person in run.people:
            if person.outcome != "accepted":
                continue
            row = database["nodes"].get(person.node)
            stored = _decision_keys(row["decisions"]) if row else []
            if not any(a.endswith(person.action) and u == person.user for a, u in stored):
                differ(
                    f"nodes.{person.node}.decisions",
                    f"{person.action} by {person.user} at {_iso(person.at)}",
                    "not recorded",
                )
    return differences


# -- rendering ----------------------------------------------------------------------------


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)


def _short(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return str(value)


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of the report as (title, header, rows): markdown and HTML render these."""
    plan, trigger, outcome = report["plan"], report["trigger"], report["outcome"]
    summary = [
        ["Execution", report["execution_id"]],
        [
            "Plan",
            f"{plan.get('name')} (id {plan.get('id')}, version {plan.get('version')}, "
            f"{plan.get('scene')})",
        ],
        ["State", str(outcome["state"])],
        ["Started", str(outcome["started_at"])],
        ["Ended", str(outcome["ended_at"])],
        ["Duration (s)", _short(outcome["duration_seconds"])],
        ["Error", _short(outcome["error"])],
        ["Trigger", f"{trigger.get('kind')} by {trigger.get('by')}"],
        ["Trigger details", _short(trigger.get("details"))],
        ["Overrides at start", _short(trigger.get("overrides"))],
        [
            "History",
            f"{report['history']['source']}: "
            + ", ".join(
                f"{w['workflow_id']} ({w['events']} events, {w['closed'] or 'open'})"
                for w in report["history"]["workflows"]
            ),
        ],
        [
            "Archived",
            ", ".join(
                f"{a['workflow_id']} sha256 {a['sha256'][:16]}…"
                for a in report["history"]["archived"]
            )
            or "not yet",
        ],
        [
            "Database and history",
            "agree" if report["agrees"] else f"DISAGREE in {len(report['differences'])} place(s)",
        ],
    ]
    alert = trigger.get("alert")
    if alert:
        summary.append(
            [
                "Alert",
                f"{alert['alert']} ({alert['source']}, {alert['severity']}) "
                f"labels {_short(alert['labels'])}",
            ]
        )
    if trigger.get("alert_resolved_at"):
        summary.append(["Alert resolved", trigger["alert_resolved_at"]])
    nodes = [
        [
            n["key"],
            _short(n["name"]),
            _short(n["action"]),
            _short(n["state"]),
            _short(n["params"]),
            _short(n["attempts"]),
            _short(n["started_at"]),
            _short(n["ended_at"]),
            _short(n["error"]),
            _short(n["output"]),
        ]
        for n in report["nodes"]
    ]
    decisions = [
        [
            n["key"],
            d.get("action", ""),
            d.get("user", ""),
            str(d.get("at", "")),
            _short(d.get("comment")),
            _short(d.get("details")),
        ]
        for n in report["nodes"]
        for d in n["decisions"] or []
    ]
    people = [
        [
            p["at"],
            p["via"],
            p["node"],
            p["action"],
            p["user"],
            _short(p["comment"]),
            _short(p["values"]),
            p["outcome"],
        ]
        for p in report["people"]
    ]
    steps = [
        [
            s["node"],
            s["action"],
            _short(s["params"]),
            str(s["attempts"]),
            s["outcome"],
            _short(s["error"]),
            s["scheduled_at"],
            _short(s["ended_at"]),
        ]
        for s in report["steps"]
    ]
    differences = [
        [d["where"], _short(d["history"]), _short(d["database"])] for d in report["differences"]
    ]
    return [
        ("Summary", ["", ""], summary),
        (
            "Nodes",
            [
                "Node",
                "Name",
                "Action",
                "State",
                "Parameters",
                "Attempts",
                "Started",
                "Ended",
                "Error",
                "Output",
            ],
            nodes,
        ),
        (
            "Decisions recorded on the nodes",
            ["Node", "Decision", "By", "At", "Comment", "Details"],
            decisions,
        ),
        (
            "People's acts in the history",
            ["At", "Via", "Node", "Act", "By", "Comment", "Values", "Outcome"],
            people,
        ),
        (
            "Step activities (retries and errors)",
            ["Node", "Action", "Parameters", "Attempts", "Outcome", "Error", "Scheduled", "Ended"],
            steps,
        ),
        (
            "Where the database and the history disagree",
            ["Where", "History", "Database"],
            differences,
        ),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Audit report: {report['execution_id']}",
        "",
        f"Generated {report['generated_at']} by nightwatch audit.",
        "",
    ]
    for title, header, rows in _sections(report):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    plan = report["plan"].get("snapshot")
    if plan:
        lines += [
            "## The plan as it ran (snapshot)",
            "",
            "```json",
            json.dumps(plan, indent=2, default=str),
            "```",
            "",
        ]
    return "\n".join(lines)


def as_html(report: dict[str, Any]) -> str:
    e = html.escape
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Audit report {e(report['execution_id'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;"
        "vertical-align:top;font-size:13px}th{background:#eee}.bad{color:#b00}</style>",
        f"</head><body><h1>Audit report: {e(report['execution_id'])}</h1>",
        f"<p>Generated {e(report['generated_at'])} by nightwatch audit.</p>",
    ]
    if not report["agrees"]:
        out.append("<p class='bad'><strong>The database and the history disagree.</strong></p>")
    for title, header, rows in _sections(report):
        out.append(f"<h2>{e(title)}</h2>")
        if not rows:
            out.append("<p>None.</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        out.append("</table>")
    plan = report["plan"].get("snapshot")
    if plan:
        out.append(
            "<h2>The plan as it ran (snapshot)</h2><pre>"
            f"{e(json.dumps(plan, indent=2, default=str))}</pre>"
        )
    out.append("</body></html>")
    return "\n".join(out)


RENDERERS = {"md": as_markdown, "json": as_json, "html": as_html}
