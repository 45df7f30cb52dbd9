"""`nightwatch inbox` and `nightwatch list`: what waits for people, and recent executions,
as the API shows them to the signed-in person."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from cli.api_client import Api
from cli.context import settings
from cli.output import JsonFlag, emit_json, say

app = typer.Typer()


@app.command()
def inbox(
    everyone: Annotated[
        bool, typer.Option("--all", help="What waits for anyone, not only for you.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every step waiting for you (by your identity and roles), oldest first, with what it
    waits for and who may act."""
    with Api(settings()) as api:
        items: list[dict[str, Any]] = api.get("/api/v1/inbox", params={"everyone": everyone})
    if as_json:
        emit_json({"waiting": items})
        return
    if not items:
        say("nothing waits for you" if not everyone else "nothing waits for a person")
    for item in items:
        missing = f" ({', '.join(item['missing'])})" if item["missing"] else ""
        say(
            f"{item['since'][:19]}  {item['execution']}  {item['node']:<22} {item['name']!r} waits "
            f"for {item['waits_for']}{missing}; may act: {', '.join(item['may_act'])}"
        )


@app.command("list")
def list_executions(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    state: Annotated[list[str] | None, typer.Option("--state", help="Only these states.")] = None,
    plan: Annotated[str | None, typer.Option(help="Only this plan (name or id).")] = None,
    trigger: Annotated[str | None, typer.Option(help="OPERATOR, ALERT, SCHEDULE or RERUN.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Started at or after (UTC).")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only those waiting for you.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recent executions with their state."""
    params: dict[str, Any] = {"limit": limit, "waiting_for_me": mine}
    for key, value in (("state", state), ("plan", plan), ("trigger", trigger)):
        if value:
            params[key] = value
    if since is not None:
        params["since"] = since.isoformat() + ("Z" if since.tzinfo is None else "")
    with Api(settings()) as api:
        page = api.get("/api/v1/executions", params=params)
    rows = page["executions"]
    if as_json:
        emit_json({"executions": rows, "total": page["total"]})
        return
    for row in rows:
        say(
            f"{row['execution']:<40} {row['state']:<10} {row['plan']} (v{row['plan_version']}) "
            f"by {row['by']} at {str(row['started_at'] or '')[:19]}"
        )
