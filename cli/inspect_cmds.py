"""`nightwatch inspect …`: inspection plans (apply a file, list, show, run now, pause,
resume, back-fill, delete), their runs and results, through the API as the signed-in person."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from cli.api_client import Api, ApiRefused, segment
from cli.context import settings
from cli.output import FAILED, JsonFlag, emit_json, say
from inspection.model import InspectionInvalid, Problem, parse_document

inspect_app = typer.Typer(
    help="Automatic inspection: plans on schedules, runs, results.", no_args_is_help=True
)
MAX_FILE_BYTES = 4 * 1024 * 1024


def _read(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise InspectionInvalid([Problem(path="(file)", reason="no such file")])
    if file.stat().st_size > MAX_FILE_BYTES:
        raise InspectionInvalid([Problem(path="(file)", reason="larger than 4 MB")])
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise InspectionInvalid([Problem(path=where, reason="not YAML")]) from None
    if not isinstance(data, dict):
        raise InspectionInvalid([Problem(path="(file)", reason="not a mapping")])
    return data


def _invalid(error: InspectionInvalid, as_json: bool, source: Path) -> NoReturn:
    if as_json:
        emit_json({"valid": False, **error.to_dict(), "file": str(source)})
    else:
        for problem in error.problems:
            typer.echo(f"error: {source}: {problem.path}: {problem.reason}", err=True)
    raise typer.Exit(FAILED)


@inspect_app.command("validate")
def validate(file: Path, as_json: JsonFlag = False) -> None:
    """Check an inspection plan file (every problem with its path); nothing is written."""
    try:
        doc = parse_document(_read(file))
    except InspectionInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json({"valid": True, "name": doc.name, "checks": len(doc.checks)})
    else:
        say(f"{file}: valid ({len(doc.checks)} checks)")


@inspect_app.command("apply")
def apply(file: Path, as_json: JsonFlag = False) -> None:
    """Create or change the inspection plan in FILE and its Schedule (admins)."""
    try:
        data = _read(file)
        name = parse_document(data).name
        with Api(settings()) as api:
            try:
                result = api.put(f"/api/v1/inspections/{segment(name)}", data)
            except ApiRefused as refused:
                if refused.status != 422:
                    raise
                problems = [Problem(**p) for p in refused.problems] or [
                    Problem(path=refused.path, reason=refused.reason)
                ]
                raise InspectionInvalid(problems) from None
    except InspectionInvalid as error:
        _invalid(error, as_json, file)
    if as_json:
        emit_json(result)
    else:
        say(
            f"{result['outcome']} inspection plan {name!r} (version {result['version']}), "
            f"schedule {result['schedule']}"
        )


@inspect_app.command("list")
def list_plans(as_json: JsonFlag = False) -> None:
    """Every inspection plan: schedule, paused, failing targets, the last run."""
    with Api(settings()) as api:
        plans: list[dict[str, Any]] = api.get("/api/v1/inspections")
    if as_json:
        emit_json({"inspections": plans})
        return
    for p in plans:
        schedule = p["schedule"].get("every") or p["schedule"].get("cron")
        last = p["last_run"]
        seen = f"last run {str(last['started_at'])[:19]}" if last else "never run"
        paused = f"  PAUSED: {p['pause_note']}" if p["paused"] else ""
        say(
            f"{p['name']:<32} v{p['version']:<3} {p['checks']:>4} checks  every {schedule:<12} "
            f"{p['failing']:>3} failing  {seen}{paused}"
        )


@inspect_app.command("show")
def show(name: str, as_json: JsonFlag = False) -> None:
    """The plan, its Schedule (paused, next runs, missed runs), failing targets, last runs."""
    with Api(settings()) as api:
        plan: dict[str, Any] = api.get(f"/api/v1/inspections/{segment(name)}")
    if as_json:
        emit_json(plan)
        return
    schedule = plan["schedule"]
    say(f"{plan['name']}  version {plan['version']}  ({len(plan['document']['checks'])} checks)")
    if schedule.get("present"):
        state = f"PAUSED: {schedule['note']}" if schedule["paused"] else "active"
        say(f"  schedule: {state}; next {', '.join(schedule['next_runs'][:3])}")
        say(
            f"  runs {schedule['runs']}, missed (catch-up window) "
            f"{schedule['missed_catchup_window']}, skipped (overlap) {schedule['skipped_overlap']}"
        )
    else:
        say(f"  schedule: {schedule.get('reason')}")
    failing = [s for s in plan["states"] if s["failing"]]
    say(f"  failing targets: {len(failing)}")
    for s in failing[:50]:
        flap = "  (flapping)" if s["flapping"] else ""
        say(
            f"    {s['check']} on {s['target']} since {s['since']} event {s['risk_event_id']}{flap}"
        )
    say("  last runs:")
    for run in plan["runs"]:
        counts = run["counts"] or {}
        say(
            f"    {run['id']:>6} {run['trigger']:<8} {run['state']:<9} {run['started_at']}  "
            f"{counts.get('passed', '-')} passed, {counts.get('warned', '-')} warned, "
            f"{counts.get('failed', '-')} failed"
        )


@inspect_app.command("run-now")
def run_now(name: str, as_json: JsonFlag = False) -> None:
    """Run the plan now (recorded as manual, with who asked)."""
    with Api(settings()) as api:
        result = api.post(f"/api/v1/inspections/{segment(name)}/run")
    if as_json:
        emit_json(result)
    else:
        say(f"started {result['workflow_id']}")


@inspect_app.command("pause")
def pause(
    name: str,
    note: Annotated[str, typer.Option("--note", "-n", help="Why (shown with the plan).")],
) -> None:
    """Pause the plan's Schedule."""
    with Api(settings()) as api:
        api.post(f"/api/v1/inspections/{segment(name)}/pause", {"note": note})
    say(f"paused {name!r}: {note}")


@inspect_app.command("resume")
def resume(name: str, note: Annotated[str, typer.Option("--note", "-n", help="Why.")] = "") -> None:
    """Resume the plan's Schedule."""
    with Api(settings()) as api:
        api.post(f"/api/v1/inspections/{segment(name)}/resume", {"note": note})
    say(f"resumed {name!r}")


@inspect_app.command("backfill")
def backfill(
    name: str,
    start: Annotated[datetime, typer.Option(help="From (ISO 8601 with offset).")],
    end: Annotated[datetime, typer.Option(help="Up to (exclusive).")],
) -> None:
    """Run the scheduled times between START and END now (at most 7 days)."""
    with Api(settings()) as api:
        api.post(
            f"/api/v1/inspections/{segment(name)}/backfill",
            {"start": start.isoformat(), "end": end.isoformat()},
        )
    say(f"back-filled {name!r} from {start.isoformat()} to {end.isoformat()}")


@inspect_app.command("history")
def history(
    name: str,
    check: Annotated[str | None, typer.Option(help="Only this check.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    outcome: Annotated[str | None, typer.Option(help="PASS, WARN or FAIL.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """A target's (or the plan's) last results, newest first."""
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("check", check), ("target", target), ("outcome", outcome)):
        if value is not None:
            params[key] = value
    with Api(settings()) as api:
        rows: list[dict[str, Any]] = api.get(
            f"/api/v1/inspections/{segment(name)}/results", params=params
        )
    if as_json:
        emit_json({"results": rows})
        return
    for row in rows:
        why = "; ".join(row["failures"]) if row["failures"] else ""
        say(
            f"{row['checked_at']}  {row['outcome']:<4} {row['check']} on {row['target']} "
            f"({row['duration_ms']} ms){'  ' + why if why else ''}"
        )


@inspect_app.command("run")
def run(run_id: int, as_json: JsonFlag = False) -> None:
    """One run: counts, what changed, every result that did not pass."""
    with Api(settings()) as api:
        found: dict[str, Any] = api.get(f"/api/v1/inspection-runs/{run_id}")
    if as_json:
        emit_json(found)
        return
    counts = found["counts"] or {}
    say(
        f"run {found['id']} of {found['plan']} ({found['trigger']}, {found['state']}): "
        f"{counts.get('passed', 0)} passed, {counts.get('warned', 0)} warned, "
        f"{counts.get('failed', 0)} failed"
    )
    for row in found["results"]:
        if row["outcome"] != "PASS":
            why = "; ".join(row["failures"])
            say(f"  {row['outcome']:<4} {row['check']} on {row['target']}: {why}")
            if row["evidence"]:
                say(f"       {row['evidence'].splitlines()[0]}")


@inspect_app.command("delete")
def delete(name: str) -> None:
    """Delete the plan and its Schedule (runs and results stay until retention)."""
    with Api(settings()) as api:
        api.delete(f"/api/v1/inspections/{segment(name)}")
    say(f"deleted inspection plan {name!r}")


@inspect_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of inspection plan files."""
    from api.inspections import schema as inspection_schema

    typer.echo(json.dumps(inspection_schema(), indent=2))
