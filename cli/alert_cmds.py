"""`nightwatch alerts …`: routing rules (apply a file, list, delete) and risk events
(list, acknowledge), through the alert intake's API as the signed-in person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.api_client import Api, segment
from cli.context import settings
from cli.output import JsonFlag, emit_json, say

alerts_app = typer.Typer(help="Alert routing rules and risk events.", no_args_is_help=True)


def _intake() -> Api:
    current = settings()
    return Api(current, url=current.effective_intake_url)


@alerts_app.command("apply")
def apply(file: Path, as_json: JsonFlag = False) -> None:
    """Create or replace the rules of a file (all or nothing; admins)."""
    from intake.rules import read_rule_file

    rules = [rule.model_dump(mode="json") for rule in read_rule_file(file)]
    with _intake() as intake:
        results = intake.put("/api/v1/alert-rules", rules)["rules"]
    if as_json:
        emit_json({"rules": results})
        return
    for result in results:
        say(f"{result['outcome']:<9} rule {result['id']} {result['name']!r}")


@alerts_app.command("rules")
def rules(as_json: JsonFlag = False) -> None:
    """Routing rules in the order they are tried."""
    with _intake() as intake:
        found: list[dict[str, Any]] = intake.get("/api/v1/alert-rules")
    if as_json:
        emit_json({"rules": found})
        return
    for rule in found:
        matchers = ", ".join(
            f"{m['label']}{m['op']}{json.dumps(m['value'])}" for m in rule.get("match", [])
        )
        state = "on " if rule.get("enabled", True) else "off"
        name, plan = rule["name"], rule["plan"]
        say(f"{state} p{rule.get('priority', 0):<5} {name!r} -> {plan!r}  [{matchers}]")


@alerts_app.command("delete")
def delete(name: str) -> None:
    """Delete a rule by name (one that never routed an alert; disable it otherwise)."""
    with _intake() as intake:
        intake.delete(f"/api/v1/alert-rules/{segment(name)}")
    say(f"deleted rule {name!r}")


@alerts_app.command("events")
def events(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Risk events, newest first: each alert's firing, what it started or why not."""
    with _intake() as intake:
        rows: list[dict[str, Any]] = intake.get("/api/v1/risk-events", params={"limit": limit})
    if as_json:
        emit_json(
            {
                "events": [
                    {
                        "id": r["id"],
                        "source": r["source"],
                        "alert": r["alert_name"],
                        "state": r["state"],
                        "outcome": r["outcome"],
                        "execution_id": r["execution_id"],
                        "reason": r["reason"],
                        "deliveries": r["deliveries"],
                        "labels": r["labels"],
                        "starts_at": r["starts_at"],
                        "acknowledged_by": r["acknowledged_by"],
                    }
                    for r in rows
                ]
            }
        )
        return
    for r in rows:
        what = r["execution_id"] or r["reason"] or ""
        say(
            f"{r['id']:>5} {r['state']:<12} {r['outcome']:<15} {r['source']:<12} "
            f"{r['alert_name'] or '':<24} x{r['deliveries']:<3} {what}"
        )


@alerts_app.command("ack")
def acknowledge(event: int) -> None:
    """Acknowledge a risk event (operators): you are taking it on."""
    with _intake() as intake:
        row = intake.post(f"/api/v1/risk-events/{event}/acknowledge")
    say(f"risk event {row['id']} {row['state']} by {row['acknowledged_by']}")
