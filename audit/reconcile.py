"""The audit report of one execution: what ran, with which parameters, who decided what.

Built from the Temporal history (the source of truth: from Temporal while it keeps it, else
from the archive: audit/history.py reads it) and the database rows, and states every place
where the two disagree. Secret parameters are masked everywhere in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from temporalio.client import Client

from audit.archive import fetch_histories
from audit.history import HistoryReader, Parsed, iso
from catalog.registry import SECRET_PARAM_NAMES
from nightwatch.codec import KeyRing
from nightwatch.errors import NotFound
from nightwatch.masking import masked
from storage import executions
from storage.db import session_factory
from storage.models import HistoryArchive, RiskEvent
from workflows.models import ExecutionInput, ExecutionSnapshot


async def build_report(
    client: Client, database_url: str, execution_id: str, ring: KeyRing | None
) -> dict[str, Any]:
    source, histories = await fetch_histories(client, database_url, execution_id)
    database = _database(database_url, execution_id)
    if not histories and database is None:
        raise NotFound(execution_id, "no such execution in Temporal, the archive or the database")
    reader = HistoryReader(ring)
    parsed = [await reader.parse(history) for history in histories]
    top = parsed[0] if parsed else None
    nodes = _history_nodes(parsed)
    report: dict[str, Any] = {
        "report": "nightwatch audit",
        "generated_at": iso(datetime.now(UTC)),
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
                    "started_at": iso(row.started_at),
                    "ended_at": iso(row.ended_at),
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
                "starts_at": iso(event.starts_at),
                "ends_at": iso(event.ends_at),
            },
            "archived": [
                {"workflow_id": w, "sha256": s, "archived_at": iso(a)} for w, s, a in archived
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
            "proven_by": start.proven_by,
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
        trigger["alert_resolved_at"] = iso(top.alert_resolved_at)
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
        "started_at": iso(started),
        "ended_at": iso(ended),
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
        differ("execution.ended_at", iso(top.closed_at), None)
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
                    f"{person.action} by {person.user} at {iso(person.at)}",
                    "not recorded",
                )
    return differences


# -- rendering ----------------------------------------------------------------------------
