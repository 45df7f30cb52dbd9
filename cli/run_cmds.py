"""`nightwatch run|status|confirm|reject|skip|retry|abort|done|fill|rerun|cancel`: through
the API, as whoever `nightwatch login` proved (the API records that identity)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from cli.api_client import Api, segment
from cli.context import settings
from cli.output import FAILED, OK, WAITING, JsonFlag, emit_json, say
from executions.service import ExecutionError, check_id
from workflows.models import ExecutionView, NodeView

RUNNING = 4
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why (kept for audit).")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="NODE.PARAM=VALUE for this run only.")
]

app = typer.Typer()


def parse_sets(sets: list[str] | None) -> dict[str, dict[str, Any]]:
    """`3.pods=4` -> {"3": {"pods": 4}}; values are JSON when they parse, else text. The API
    seals secret values before they reach Temporal."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in sets or []:
        target, sep, raw = item.partition("=")
        node, dot, param = target.rpartition(".")
        if not sep or not dot or not node or not param:
            raise ExecutionError(item, "expected NODE.PARAM=VALUE, e.g. 3.pods=4")
        overrides.setdefault(node, {})[param] = _value(raw)
    return overrides


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def exit_code(state: str) -> int:
    return {"SUCCEEDED": OK, "WAITING": WAITING, "RUNNING": RUNNING, "PENDING": RUNNING}.get(
        state, FAILED
    )


def execution_id(execution: str) -> str:
    """An execution id as given on the command line (blank refused), quoted for a path."""
    return segment(check_id(execution))


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


def _show(view: ExecutionView, as_json: bool) -> None:
    if as_json:
        emit_json(view.model_dump(mode="json"))
    else:
        _print_view(view)


def _view(api: Api, execution: str) -> ExecutionView:
    return ExecutionView.model_validate(api.get(f"/api/v1/executions/{execution_id(execution)}"))


@app.command()
def run(
    plan: Annotated[str, typer.Argument(help="plan name or id")],
    sets: Sets = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends or waits.")] = False,
    identifier: Annotated[str | None, typer.Option("--id", help="Execution id to use.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start an execution of PLAN (exit 0 started or succeeded, 1 failed, 3 waiting, 4 running)."""
    body: dict[str, Any] = {"plan": plan, "overrides": parse_sets(sets)}
    if identifier is not None:
        body["execution_id"] = check_id(identifier)
    with Api(settings()) as api:
        view = ExecutionView.model_validate(api.post("/api/v1/executions", body))
        if wait:
            view = _follow(api, view.execution_id)
    _show(view, as_json)
    raise typer.Exit(exit_code(view.state) if wait else OK)


def _follow(api: Api, execution: str) -> ExecutionView:
    """Follow the execution until it ends or waits for a person: a live Rich table on a
    terminal, one line per state change otherwise (pipes, logs, CI)."""
    if sys.stdout.isatty():
        return _follow_live(api, execution)
    seen: dict[str, str] = {}
    while True:
        view = _view(api, execution)
        for node in view.nodes:
            if seen.get(node.key) != node.state:
                seen[node.key] = node.state
                if node.state != "PENDING":
                    say(f"  {node.key:<22} {node.state:<21} {node.name}")
        if view.state not in ("RUNNING", "PENDING"):
            return view
        time.sleep(0.5)


def _follow_live(api: Api, execution: str) -> ExecutionView:
    from rich.live import Live

    with Live(_table(_view(api, execution)), refresh_per_second=4) as live:
        while True:
            view = _view(api, execution)
            live.update(_table(view))
            if view.state not in ("RUNNING", "PENDING"):
                return view
            time.sleep(0.5)


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
    with Api(settings()) as api:
        view = _view(api, execution)
    _show(view, as_json)
    raise typer.Exit(exit_code(view.state))


def _decide(what: str, execution: str, node: str, comment: str | None, as_json: bool) -> None:
    path = f"/api/v1/executions/{execution_id(execution)}/nodes/{segment(node)}/{what}"
    with Api(settings()) as api:
        answer = api.post(path, {"comment": comment})
    result = NodeView.model_validate(answer) if answer else None
    if as_json:
        emit_json(result.model_dump(mode="json") if result else {"node": node})
    elif result is not None:
        approvals = f", {len(result.approvals)} approval(s) so far" if result.approvals else ""
        say(f"{execution} node {result.key} '{result.name}': {what} recorded{approvals}")
    else:
        say(f"{execution}: {what} recorded")


def _decision_command(what: str, summary: str) -> Any:
    """A command deciding about one node: they differ only in what they decide."""

    def command(
        execution: str, node: str, comment: Comment = None, as_json: JsonFlag = False
    ) -> None:
        _decide(what, execution, node, comment, as_json)

    command.__doc__ = summary
    return command


app.command("confirm")(
    _decision_command(
        "confirm", "Confirm a step or sub-plan waiting for confirmation (or manual work done)."
    )
)
app.command("reject")(
    _decision_command("reject", "Reject a step waiting for confirmation: the execution stops.")
)
app.command("skip")(
    _decision_command("skip", "Skip a waiting or failed step; the execution goes on.")
)
app.command("retry")(_decision_command("retry", "Run a failed step again."))


@app.command()
def abort(
    execution: str,
    node: Annotated[str, typer.Argument()] = "*",
    comment: Comment = None,
    as_json: JsonFlag = False,
) -> None:
    """Abort the execution (at NODE, or '*' for wherever it is)."""
    _decide("abort", execution, node, comment, as_json)


@app.command()
def done(
    execution: str,
    node: str,
    comment: Annotated[str, typer.Option("--comment", "-m")],
    as_json: JsonFlag = False,
) -> None:
    """Mark a failed or waiting step as done by hand (the fix was made outside)."""
    _decide("done", execution, node, comment, as_json)


@app.command()
def fill(
    execution: str,
    node: str,
    values: Annotated[list[str], typer.Argument(help="PARAM=VALUE (JSON or text)")],
    comment: Comment = None,
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
    path = f"/api/v1/executions/{execution_id(execution)}/nodes/{segment(node)}/fill"
    with Api(settings()) as api:
        result = NodeView.model_validate(api.post(path, {"values": parsed, "comment": comment}))
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
    wait: bool = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a new execution linked to EXECUTION, from NODE on, with its effective parameters."""
    body = {"from_node": from_node, "overrides": parse_sets(sets)}
    with Api(settings()) as api:
        answer = api.post(f"/api/v1/executions/{execution_id(execution)}/rerun", body)
        view = ExecutionView.model_validate(answer)
        if wait:
            view = _follow(api, view.execution_id)
    _show(view, as_json)
    raise typer.Exit(exit_code(view.state) if wait else OK)


@app.command()
def cancel(execution: str) -> None:
    """Cancel the execution: the running step is cancelled, every open node marked cancelled."""
    with Api(settings()) as api:
        api.post(f"/api/v1/executions/{execution_id(execution)}/cancel")
    say(f"{execution}: cancel requested")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
