"""`nightwatch inbox` and `nightwatch list`: what waits for people, and recent executions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import sessions
from cli.output import JsonFlag, emit_json, say
from executions.inbox import Who, as_json, waiting
from storage import executions

app = typer.Typer()


def waiting_nodes(user: str | None = None, roles: list[str] | None = None) -> list[dict[str, Any]]:
    """Every node waiting for a person in an open execution, oldest first."""
    who = Who(user=user, roles=roles or []) if user else None
    with sessions()() as session:
        return as_json(waiting(session, who))


@app.command()
def inbox(
    user: Annotated[
        str | None, typer.Option("--user", help="Only what this user may act on.")
    ] = None,
    role: Annotated[list[str] | None, typer.Option("--role", help="The user's roles.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every step waiting for a person, oldest first, with what it waits for and who may act."""
    items = waiting_nodes(user, role)
    if as_json:
        emit_json({"waiting": items})
        return
    if not items:
        say("nothing waits for a person")
    for item in items:
        missing = f" ({', '.join(item['missing'])})" if item["missing"] else ""
        say(
            f"{item['since'][:19]}  {item['execution']}  {item['node']:<22} {item['name']!r} waits "
            f"for {item['waits_for']}{missing}; may act: {', '.join(item['may_act'])}"
        )


@app.command("list")
def list_executions(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Recent executions with their state."""
    with sessions()() as session:
        rows = [
            {
                "execution": e.execution_id,
                "plan": name,
                "plan_version": e.plan_version,
                "state": e.state,
                "trigger": e.trigger_kind,
                "by": e.triggered_by,
                "started_at": e.started_at.isoformat() if e.started_at else None,
                "ended_at": e.ended_at.isoformat() if e.ended_at else None,
            }
            for e, name in executions.recent(session, limit)
        ]
    if as_json:
        emit_json({"executions": rows})
        return
    for row in rows:
        say(
            f"{row['execution']:<40} {row['state']:<10} {row['plan']} (v{row['plan_version']}) "
            f"by {row['by']} at {str(row['started_at'] or '')[:19]}"
        )
