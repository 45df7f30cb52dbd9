"""`nightwatch plan …`: validate, apply, export, list, show, delete plans (through the API,
as the signed-in person) and print the schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from cli.api_client import Api, ApiRefused
from cli.context import settings
from cli.output import FAILED, JsonFlag, emit_json, say
from nightwatch.errors import NotFound
from plans import files
from plans.validation import PlanInvalid, Problem, check, code_catalog

plan_app = typer.Typer(help="Plans: files, validation, the API.", no_args_is_help=True)


def _invalid(error: PlanInvalid, as_json: bool, source: Path) -> NoReturn:
    """One line per problem, each naming the file and the path inside it."""
    if as_json:
        emit_json({"valid": False, **error.to_dict(), "path": str(source)})
    else:
        for problem in error.problems:
            typer.echo(f"error: {source}: {problem.path}: {problem.reason}", err=True)
    raise typer.Exit(FAILED)


def _refused_plan(refused: ApiRefused, name: str) -> PlanInvalid:
    problems = [Problem(path=p["path"], reason=p["reason"]) for p in refused.problems] or [
        Problem(path=refused.path, reason=refused.reason)
    ]
    return PlanInvalid(name, problems)


def plan_id(api: Api, plan: str) -> int:
    """A plan's id from its id or name, as people give it."""
    if plan.isdigit() and len(plan) < 19:
        return int(plan)
    for summary in api.get("/api/v1/plans"):
        if summary["name"] == plan:
            return int(summary["id"])
    raise NotFound(plan, "no such plan (`nightwatch plan list`)")


@plan_app.command("validate")
def validate(
    file: Path,
    as_json: JsonFlag = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check against this CLI's code, not the API.")
    ] = False,
) -> None:
    """Check a plan file; every problem is reported with its path. Nothing is written."""
    try:
        document = files.read_file(file)
        if offline:
            check(document, code_catalog())
        else:
            with Api(settings()) as api:
                try:
                    api.post("/api/v1/plans/validate", document.model_dump(mode="json"))
                except ApiRefused as refused:
                    if refused.status != 422:
                        raise
                    raise _refused_plan(refused, document.name) from None
    except PlanInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json({"valid": True, "name": document.name, "scene": document.scene})
    else:
        say(f"{file}: valid ({document.scene}, {len(document.all_steps())} steps)")


@plan_app.command("apply")
def apply(file: Path, as_json: JsonFlag = False) -> None:
    """Create or update the plan in FILE; applying the same file twice changes nothing."""
    try:
        document = files.read_file(file)
        body = document.model_dump(mode="json")
        with Api(settings()) as api:
            try:
                result = _apply(api, document.name, body)
            except ApiRefused as refused:
                if refused.status != 422:
                    raise
                raise _refused_plan(refused, document.name) from None
    except PlanInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json({k: result[k] for k in ("id", "name", "version", "outcome")})
    else:
        outcome, number, name = result["outcome"], result["id"], result["name"]
        say(f"{outcome} plan {number} {name!r} (version {result['version']})")


def _apply(api: Api, name: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        existing = plan_id(api, name)
    except NotFound:
        created: dict[str, Any] = api.post("/api/v1/plans", body)
        return created
    current = api.get(f"/api/v1/plans/{existing}")
    updated: dict[str, Any] = api.put(
        f"/api/v1/plans/{existing}", body, headers={"If-Match": f'"{current["version"]}"'}
    )
    return updated


@plan_app.command("export")
def export(
    plan: Annotated[str, typer.Argument(help="plan id or name")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to a file")] = None,
) -> None:
    """Print a stored plan as a plan file (apply it again and nothing changes)."""
    with Api(settings()) as api:
        text = str(api.get(f"/api/v1/plans/{plan_id(api, plan)}/file"))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"wrote {output}")


@plan_app.command("list")
def list_plans(as_json: JsonFlag = False) -> None:
    """Every live plan: id, name, scene, version, steps."""
    with Api(settings()) as api:
        plans = api.get("/api/v1/plans")
    if as_json:
        emit_json({"plans": plans})
        return
    for p in plans:
        flag = "" if p["enabled"] else "  (disabled)"
        say(
            f"{p['id']:>5}  {p['scene']:<13} v{p['version']:<3} {p['steps']:>2} steps  "
            f"{p['name']}{flag}"
        )


@plan_app.command("show")
def show(
    plan: Annotated[str, typer.Argument(help="plan id or name")], as_json: JsonFlag = False
) -> None:
    """One plan with its steps (JSON: the plan document plus id and version)."""
    from plans.model import PlanDocument

    with Api(settings()) as api:
        stored = api.get(f"/api/v1/plans/{plan_id(api, plan)}")
    document = PlanDocument.model_validate(stored["document"])
    if as_json:
        emit_json(
            {"id": stored["id"], "version": stored["version"], **document.model_dump(mode="json")}
        )
        return
    say(f"plan {stored['id']} {document.name!r}  {document.scene}  version {stored['version']}")
    if document.description:
        say(f"  {document.description}")
    for path, step in document.all_steps():
        strategy = f"  {step.strategy}" if step.strategy else ""
        pending = f"  pending: {', '.join(step.pending)}" if step.pending else ""
        say(f"  {path:<34} {step.action:<26} {step.name}{strategy}{pending}")


@plan_app.command("delete")
def delete(plan: Annotated[str, typer.Argument(help="plan id or name")]) -> None:
    """Delete a plan (kept for old executions and audit; the name becomes free)."""
    with Api(settings()) as api:
        identifier = plan_id(api, plan)
        name = api.get(f"/api/v1/plans/{identifier}")["document"]["name"]
        api.delete(f"/api/v1/plans/{identifier}")
    say(f"deleted plan {identifier} {name!r}")


@plan_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of plan files (point your editor at it)."""
    sys.stdout.write(files.json_schema() + "\n")
