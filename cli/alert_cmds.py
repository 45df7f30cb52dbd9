"""`nightwatch alerts …`: routing rules (apply a file, list, delete) and risk events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from cli.context import sessions
from cli.output import JsonFlag, emit_json, say
from nightwatch.errors import NightwatchError

alerts_app = typer.Typer(help="Alert routing rules and risk events.", no_args_is_help=True)


@alerts_app.command("apply")
def apply(file: Path, as_json: JsonFlag = False) -> None:
    """Create or replace the rules of a file (all or nothing)."""
    from intake.rules import read_rule_file, save_rule

    rules = read_rule_file(file)
    results = []
    with sessions()() as session:
        for rule in rules:
            outcome, rule_id = save_rule(session, rule)
            results.append({"name": rule.name, "outcome": outcome, "id": rule_id})
        session.commit()
    if as_json:
        emit_json({"rules": results})
        return
    for result in results:
        say(f"{result['outcome']:<9} rule {result['id']} {result['name']!r}")


@alerts_app.command("rules")
def rules(as_json: JsonFlag = False) -> None:
    """Routing rules in the order they are tried."""
    from intake.rules import list_rules

    with sessions()() as session:
        found = list_rules(session)
    if as_json:
        emit_json({"rules": [{"id": i, **r.model_dump(mode="json")} for i, r in found]})
        return
    for rule_id, rule in found:
        matchers = ", ".join(f"{m.label}{m.op}{json.dumps(m.value)}" for m in rule.match)
        state = "on " if rule.enabled else "off"
        say(
            f"{rule_id:>4} {state} p{rule.priority:<5} {rule.name!r} -> {rule.plan!r}  [{matchers}]"
        )


@alerts_app.command("delete")
def delete(name: str) -> None:
    """Delete a rule by name."""
    from intake.rules import delete_rule

    with sessions()() as session:
        if not delete_rule(session, name):
            raise NightwatchError(name, "no such rule (`nightwatch alerts rules`)")
        session.commit()
    say(f"deleted rule {name!r}")


@alerts_app.command("events")
def events(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Risk events, newest first: each alert's firing, what it started or why not."""
    from storage.models import RiskEvent

    with sessions()() as session:
        rows = session.scalars(
            select(RiskEvent).order_by(RiskEvent.last_received_at.desc()).limit(limit)
        ).all()
    if as_json:
        emit_json(
            {
                "events": [
                    {
                        "id": r.id,
                        "source": r.source,
                        "alert": r.alert_name,
                        "state": r.state,
                        "outcome": r.outcome,
                        "execution_id": r.execution_id,
                        "reason": r.reason,
                        "deliveries": r.deliveries,
                        "labels": r.labels,
                        "starts_at": r.starts_at.isoformat(),
                    }
                    for r in rows
                ]
            }
        )
        return
    for r in rows:
        what = r.execution_id or r.reason or ""
        say(
            f"{r.id:>5} {r.state:<12} {r.outcome:<15} {r.source:<12} {r.alert_name or '':<24} "
            f"x{r.deliveries:<3} {what}"
        )
