"""`nightwatch plan …`: validate, apply, export, list, show, delete plans and print the schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cli.context import sessions
from cli.output import FAILED, JsonFlag, emit_json, say
from plans import files, store
from plans.validation import CatalogView, PlanInvalid, check, code_catalog

By = Annotated[str | None, typer.Option("--by", help="Who makes the change (audit).")]

plan_app = typer.Typer(help="Plans: files, validation, the database.", no_args_is_help=True)


def _invalid(error: PlanInvalid, as_json: bool, source: Path) -> NoReturn:
    """One line per problem, each naming the file and the path inside it."""
    if as_json:
        emit_json({"valid": False, **error.to_dict(), "path": str(source)})
    else:
        for problem in error.problems:
            typer.echo(f"error: {source}: {problem.path}: {problem.reason}", err=True)
    raise typer.Exit(FAILED)


@plan_app.command("validate")
def validate(
    file: Path,
    as_json: JsonFlag = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check against this server's code, no database.")
    ] = False,
) -> None:
    """Check a plan file; every problem is reported with its path. Nothing is written."""
    try:
        document = files.read_file(file)
        if offline:
            check(document, code_catalog())
        else:
            with sessions()() as session:
                check(document, CatalogView.load(session))
    except PlanInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json({"valid": True, "name": document.name, "scene": document.scene})
    else:
        say(f"{file}: valid ({document.scene}, {len(document.all_steps())} steps)")


@plan_app.command("apply")
def apply(file: Path, as_json: JsonFlag = False, by: By = None) -> None:
    """Create or update the plan in FILE; applying the same file twice changes nothing."""
    try:
        document = files.read_file(file)
        with sessions()() as session:
            result = store.apply(session, document, by=by)
            session.commit()
    except PlanInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json(
            {
                "id": result.plan_id,
                "name": result.name,
                "version": result.version,
                "outcome": result.outcome,
            }
        )
    else:
        say(f"{result.outcome} plan {result.plan_id} {result.name!r} (version {result.version})")


@plan_app.command("export")
def export(
    plan: Annotated[str, typer.Argument(help="plan id or name")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to a file")] = None,
) -> None:
    """Print a stored plan as a plan file (apply it again and nothing changes)."""
    with sessions()() as session:
        document = store.export(session, store.main_plan(session, plan).id)
    text = files.to_yaml(document)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"wrote {output}")


@plan_app.command("list")
def list_plans(as_json: JsonFlag = False) -> None:
    """Every live plan: id, name, scene, version, steps."""
    with sessions()() as session:
        plans = store.list_plans(session)
    if as_json:
        emit_json({"plans": [p.model_dump(mode="json") for p in plans]})
        return
    for p in plans:
        flag = "" if p.enabled else "  (disabled)"
        say(f"{p.id:>5}  {p.scene:<13} v{p.version:<3} {p.steps:>2} steps  {p.name}{flag}")


@plan_app.command("show")
def show(
    plan: Annotated[str, typer.Argument(help="plan id or name")], as_json: JsonFlag = False
) -> None:
    """One plan with its steps (JSON: the plan document plus id and version)."""
    with sessions()() as session:
        main = store.main_plan(session, plan)
        document = store.export(session, main.id)
    if as_json:
        emit_json({"id": main.id, "version": main.version, **document.model_dump(mode="json")})
        return
    say(f"plan {main.id} {document.name!r}  {document.scene}  version {main.version}")
    if document.description:
        say(f"  {document.description}")
    for path, step in document.all_steps():
        strategy = f"  {step.strategy}" if step.strategy else ""
        pending = f"  pending: {', '.join(step.pending)}" if step.pending else ""
        say(f"  {path:<34} {step.action:<26} {step.name}{strategy}{pending}")


@plan_app.command("delete")
def delete(plan: Annotated[str, typer.Argument(help="plan id or name")], by: By = None) -> None:
    """Delete a plan (kept for old executions and audit; the name becomes free)."""
    with sessions()() as session:
        main = store.main_plan(session, plan)
        store.delete(session, main.id, by=by)
        session.commit()
    say(f"deleted plan {main.id} {main.name!r}")


@plan_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of plan files (point your editor at it)."""
    sys.stdout.write(files.json_schema() + "\n")
