"""`nightwatch risk`: the risk dashboard from a terminal, through the same API routes as
the console (list, summary, one event's story, acknowledge, shelve, resolve, comment)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from cli.api_client import Api
from cli.context import settings
from cli.output import JsonFlag, emit_json, say
from nightwatch.errors import NightwatchError

risk_app = typer.Typer(help="Risk events: the dashboard's list, an event's story, acting on it.")
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why (kept in the timeline).")]


@risk_app.command("list")
def list_events(
    severity: Annotated[list[str] | None, typer.Option(help="Only these severities.")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="alert, inspection or diagnosis.")
    ] = None,
    state: Annotated[
        list[str] | None, typer.Option(help="OPEN, ACKNOWLEDGED, SHELVED, RESOLVED.")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", "-q", help="In name, resource, plan.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Risk events, newest first, filtered as on the dashboard."""
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("severity", severity), ("source", source), ("state", state), ("q", text)):
        if value:
            params[key] = value
    with Api(settings()) as api:
        page = api.get("/api/v1/risk-events", params=params)
    if as_json:
        emit_json(page)
        return
    for e in page["events"]:
        say(
            f"{e['id']:>7} {e['severity'] or '-':<9} {e['state']:<13} {e['origin']:<10} "
            f"{e['alert_name'] or '':<28} {e['resource'] or ''}"
        )
    say(f"{page['total']}{'+' if page['total_capped'] else ''} events match")


@risk_app.command("summary")
def summary(as_json: JsonFlag = False) -> None:
    """What is not resolved, by severity, source and state."""
    with Api(settings()) as api:
        counts = api.get("/api/v1/risk-events/summary")
    if as_json:
        emit_json(counts)
        return
    say(f"not resolved: {counts['unresolved']}")
    for title, key in (("severity", "by_severity"), ("source", "by_source"), ("state", "by_state")):
        say(f"  by {title}: " + ", ".join(f"{k} {v}" for k, v in counts[key].items()))


@risk_app.command("show")
def show(event: int, as_json: JsonFlag = False) -> None:
    """One event and its timeline."""
    with Api(settings()) as api:
        story = api.get(f"/api/v1/risk-events/{event}")
    if as_json:
        emit_json(story)
        return
    e = story["event"]
    say(f"{e['id']} {e['alert_name']} {e['severity']} {e['state']} ({e['origin']})")
    for item in story["timeline"]:
        comment = f" “{item['comment']}”" if item["comment"] else ""
        say(f"  {item['at'][:19]}  {item['kind']:<18} {item['actor'] or ''}{comment}")


def _act(event: int, act: str, body: dict[str, Any]) -> None:
    with Api(settings()) as api:
        row = api.post(f"/api/v1/risk-events/{event}/{act}", body)
    say(f"risk event {row['id']} {row['state']}")


@risk_app.command("ack")
def acknowledge(event: int, comment: Comment = None) -> None:
    """Take the event on."""
    _act(event, "acknowledge", {"comment": comment})


@risk_app.command("shelve")
def shelve(
    event: int,
    for_: Annotated[str, typer.Option("--for", help="How long: 30m, 4h, 2d.")] = "4h",
    comment: Comment = None,
) -> None:
    """Put the event out of sight for a while (it opens again by itself)."""
    found = re.fullmatch(r"(\d+)([mhd])", for_.strip())
    if not found:
        raise NightwatchError("--for", f"{for_!r}: a number and m, h or d (e.g. 4h)")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
    until = datetime.now(UTC) + timedelta(**{unit: int(found.group(1))})
    _act(event, "shelve", {"comment": comment, "until": until.isoformat()})


@risk_app.command("resolve")
def resolve(
    event: int,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why it is resolved.")],
) -> None:
    """Resolve the event (a comment says why)."""
    _act(event, "resolve", {"comment": comment})


@risk_app.command("comment")
def add_comment(
    event: int, comment: Annotated[str, typer.Option("--comment", "-m", help="The comment.")]
) -> None:
    """Add a comment to the event's timeline."""
    _act(event, "comment", {"comment": comment})
