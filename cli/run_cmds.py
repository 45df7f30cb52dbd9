"""`nightwatch run|status|confirm|skip|abort|retry|fill|done|rerun|cancel|inbox|list`."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from typing import Annotated, Any

import typer

from cli.context import settings
from cli.output import FAILED, OK, WAITING, JsonFlag, emit_json, say
from executions.service import (
    ExecutionError,
    Executions,
    check_id,
    new_execution_id,
    rerun_id,
    seal_overrides,
    seal_parameters,
)
from nightwatch.temporal import connect
from workflows.models import Decision, DecisionKind, ExecutionInput, ExecutionView, Fill, NodeView

RUNNING = 4
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why (kept for audit).")]
User = Annotated[
    str | None, typer.Option("--user", help="Who acts (default NIGHTWATCH_USER, login).")
]
Roles = Annotated[list[str] | None, typer.Option("--role", help="A role of the user (repeat).")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="NODE.PARAM=VALUE for this run only.")
]

app = typer.Typer()


def _user(user: str | None) -> str:
    return user or settings().user or getpass.getuser()


def _roles(roles: list[str] | None) -> list[str]:
    configured = [r.strip() for r in settings().roles.split(",") if r.strip()]
    return list(roles or []) + configured


def parse_sets(sets: list[str] | None, execution: str) -> dict[str, dict[str, Any]]:
    """`3.pods=4` -> {"3": {"pods": 4}}; values are JSON when they parse, else text.
    Secret values are sealed for this execution and node."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in sets or []:
        target, sep, raw = item.partition("=")
        node, dot, param = target.rpartition(".")
        if not sep or not dot or not node or not param:
            raise ExecutionError(item, "expected NODE.PARAM=VALUE, e.g. 3.pods=4")
        overrides.setdefault(node, {})[param] = _value(raw)
    return seal_overrides(overrides, execution, settings().key_ring(), "--set")


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def exit_code(state: str) -> int:
    return {"SUCCEEDED": OK, "WAITING": WAITING, "RUNNING": RUNNING, "PENDING": RUNNING}.get(
        state, FAILED
    )


async def _executions() -> Executions:
    return Executions(await connect(settings()), settings().task_queue)


def execution_id(execution: str) -> str:
    """An execution id as given on the command line, refused when blank."""
    return check_id(execution)


def _print_view(view: ExecutionView) -> None:
    say(f"execution {view.execution_id}  plan {view.plan!r} v{view.plan_version}  {view.state}")
    for node in view.nodes:
        indent = "    " if "." in node.key else "  "
        extra = f"  waits for {node.waiting_for}" if node.waiting_for else ""
        error = f"  error: {node.error}" if node.error and node.state != "SUCCEEDED" else ""
        line = f"{indent}{node.key:<22} {node.state:<21} {node.action or '':<26} {node.name}"
        say(line + extra + error)
    if view.waiting_for:
        say(f"waiting: {view.waiting_for}")


@app.command()
def run(
    plan: Annotated[str, typer.Argument(help="plan name or id")],
    sets: Sets = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends or waits.")] = False,
    execution_id: Annotated[str | None, typer.Option("--id", help="Execution id to use.")] = None,
    user: User = None,
    as_json: JsonFlag = False,
) -> None:
    """Start an execution of PLAN (exit 0 started or succeeded, 1 failed, 3 waiting, 4 running)."""
    identifier = execution_id or new_execution_id()
    overrides = parse_sets(sets, identifier)
    params = ExecutionInput(plan=plan, overrides=overrides, triggered_by=_user(user))
    view = asyncio.run(_start(identifier, params, wait))
    if as_json:
        emit_json(view.model_dump(mode="json"))
    else:
        _print_view(view)
    raise typer.Exit(exit_code(view.state) if wait else OK)


async def _start(identifier: str, params: ExecutionInput, wait: bool) -> ExecutionView:
    executions = await _executions()
    await executions.start(params, identifier)
    view = await executions.started(identifier)
    if wait:
        view = await _follow(executions, identifier)
    return view


async def _follow(executions: Executions, execution: str) -> ExecutionView:
    """Follow the execution until it ends or waits for a person: a live Rich table on a
    terminal, one line per state change otherwise (pipes, logs, CI)."""
    if sys.stdout.isatty():
        return await _follow_live(executions, execution)
    seen: dict[str, str] = {}
    while True:
        view = await executions.view(execution)
        for node in view.nodes:
            if seen.get(node.key) != node.state:
                seen[node.key] = node.state
                if node.state != "PENDING":
                    say(f"  {node.key:<22} {node.state:<21} {node.name}")
        if view.state not in ("RUNNING", "PENDING"):
            return view
        await asyncio.sleep(0.5)


async def _follow_live(executions: Executions, execution: str) -> ExecutionView:
    from rich.live import Live

    with Live(_table(await executions.view(execution)), refresh_per_second=4) as live:
        while True:
            view = await executions.view(execution)
            live.update(_table(view))
            if view.state not in ("RUNNING", "PENDING"):
                return view
            await asyncio.sleep(0.5)


def _table(view: ExecutionView) -> Any:
    from rich.table import Table

    table = Table(title=f"{view.execution_id}  {view.plan!r}  {view.state}", title_justify="left")
    for column in ("node", "state", "action", "step", "waits for / error"):
        table.add_column(column)
    for node in view.nodes:
        note = node.waiting_for or (node.error if node.state != "SUCCEEDED" else "") or ""
        table.add_row(node.key, node.state, node.action or "", node.name, note)
    return table


@app.command()
def status(execution: str, as_json: JsonFlag = False) -> None:
    """The live state of an execution and every node."""
    view = asyncio.run(_status(execution))
    if as_json:
        emit_json(view.model_dump(mode="json"))
    else:
        _print_view(view)
    raise typer.Exit(exit_code(view.state))


async def _status(execution: str) -> ExecutionView:
    return await (await _executions()).view(execution)


def _decide(
    kind: DecisionKind,
    execution: str,
    node: str,
    user: str | None,
    roles: list[str] | None,
    comment: str | None,
    as_json: bool,
) -> None:
    decision = Decision(node=node, user=_user(user), roles=_roles(roles), comment=comment)

    async def go() -> NodeView | None:
        return await (await _executions()).decide(execution, kind, decision)

    result = asyncio.run(go())
    if as_json:
        emit_json(result.model_dump(mode="json") if result else {"node": node})
    elif result is not None:
        name = "done" if kind == DecisionKind.DONE else kind.lower()
        approvals = f", {len(result.approvals)} approval(s) so far" if result.approvals else ""
        say(f"{execution} node {result.key} '{result.name}': {name} recorded{approvals}")
    else:
        say(f"{execution}: done")


def _decision_command(kind: DecisionKind, summary: str) -> Any:
    """A command deciding about one node: confirm, skip and retry differ only in the kind."""

    def command(
        execution: str,
        node: str,
        comment: Comment = None,
        user: User = None,
        role: Roles = None,
        as_json: JsonFlag = False,
    ) -> None:
        _decide(kind, execution, node, user, role, comment, as_json)

    command.__doc__ = summary
    return command


app.command("confirm")(
    _decision_command(
        DecisionKind.CONFIRM,
        "Confirm a step or sub-plan waiting for confirmation (or manual work done).",
    )
)
app.command("skip")(
    _decision_command(DecisionKind.SKIP, "Skip a waiting or failed step; the execution goes on.")
)
app.command("retry")(_decision_command(DecisionKind.RETRY, "Run a failed step again."))


@app.command()
def abort(
    execution: str,
    node: Annotated[str, typer.Argument()] = "*",
    comment: Comment = None,
    user: User = None,
    role: Roles = None,
    as_json: JsonFlag = False,
) -> None:
    """Abort the execution (at NODE, or '*' for wherever it is)."""
    _decide(DecisionKind.ABORT, execution, node, user, role, comment, as_json)


@app.command()
def done(
    execution: str,
    node: str,
    comment: Annotated[str, typer.Option("--comment", "-m")],
    user: User = None,
    role: Roles = None,
    as_json: JsonFlag = False,
) -> None:
    """Mark a failed or waiting step as done by hand (the fix was made outside)."""
    _decide(DecisionKind.DONE, execution, node, user, role, comment, as_json)


@app.command()
def fill(
    execution: str,
    node: str,
    values: Annotated[list[str], typer.Argument(help="PARAM=VALUE (JSON or text)")],
    comment: Comment = None,
    user: User = None,
    role: Roles = None,
    as_json: JsonFlag = False,
) -> None:
    """Fill in the parameters a step waits for; each is checked against the action (and
    the step's "may act" list, as for confirmations)."""
    parsed = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ExecutionError(item, "expected PARAM=VALUE")
        parsed[key] = _value(raw)
    parsed = seal_parameters(parsed, execution_id(execution), node, settings().key_ring(), "values")
    argument = Fill(node=node, user=_user(user), roles=_roles(role), values=parsed, comment=comment)

    async def go() -> NodeView:
        return await (await _executions()).fill(execution, argument)

    result = asyncio.run(go())
    if as_json:
        emit_json(result.model_dump(mode="json"))
    else:
        missing = f"; still waits for {', '.join(result.missing)}" if result.missing else ""
        say(f"{execution} node {result.key}: filled {', '.join(sorted(parsed))}{missing}")


@app.command()
def rerun(
    execution: str,
    from_node: Annotated[str, typer.Option("--from", help="node key")],
    sets: Sets = None,
    user: User = None,
    wait: bool = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a new execution linked to EXECUTION, from NODE on, with its effective parameters."""
    identifier = rerun_id(execution_id(execution))
    params = ExecutionInput(
        plan="",
        rerun_of=execution,
        rerun_from=from_node,
        trigger_kind="RERUN",
        overrides=parse_sets(sets, identifier),
        triggered_by=_user(user),
    )
    view = asyncio.run(_start(identifier, params, wait))
    if as_json:
        emit_json(view.model_dump(mode="json"))
    else:
        _print_view(view)
    raise typer.Exit(exit_code(view.state) if wait else OK)


@app.command()
def cancel(execution: str) -> None:
    """Cancel the execution: the running step is cancelled, every open node marked cancelled."""

    async def go() -> None:
        await (await _executions()).cancel(execution)

    asyncio.run(go())
    say(f"{execution}: cancel requested")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
