"""`nightwatch catalog|config|init`: what the catalog holds, system config, initialisation."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlalchemy import select

from catalog.check_sync import load_check_kinds
from catalog.views import load_actions
from cli.context import sessions, settings
from cli.output import JsonFlag, emit_json, say
from nightwatch.errors import NightwatchError
from storage.models import InitTaskRun, SystemConfig

catalog_app = typer.Typer(help="The action catalog as the database holds it.", no_args_is_help=True)
config_app = typer.Typer(
    help="System configuration (typed, structured values).", no_args_is_help=True
)
init_app = typer.Typer(help="Initialisation tasks and their runs.", no_args_is_help=True)


def _show_check_kind(kind: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(kind)
        return
    say(f"{kind['code']}  {kind['name']}  (inspection check, {kind['category']})")
    say(f"  {kind['description']}")
    visible = "yes" if kind["user_visible"] else f"no: {kind['invisible_reason']}"
    say(f"  visible: {visible}")
    say(f"  default conditions: {'; '.join(kind['default_conditions'])}")
    say("  observes (what conditions may name):")
    for item in kind["observes"]:
        say(f"    {item['name']:<16} {item['type']}: {item['description']}")
    say("  parameters:")
    for p in kind["params"]:
        flags = [p["type"], "required" if p["required"] else f"default {p['default']!r}"]
        if p["secret"]:
            flags.append("secret")
        say(f"    {p['name']:<16} {p['display_name']}: {'; '.join(flags)}")


# -- catalog -----------------------------------------------------------------------------


@catalog_app.command("list")
def catalog_list(
    as_json: JsonFlag = False,
    include_retired: Annotated[
        bool, typer.Option("--all", help="Include retired actions.")
    ] = False,
) -> None:
    """Every action and every inspection check kind, and whether users see it (and why not)."""
    with sessions()() as session:
        actions = load_actions(session, include_retired=include_retired)
        checks = load_check_kinds(session, include_retired=include_retired)
    if as_json:
        emit_json({"actions": actions, "checks": checks})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("code", "name", "category", "scenes", "params", title="Actions")
    table.add_column("visible", overflow="fold")
    for a in actions:
        visible = "yes" if a["user_visible"] else f"no: {a['invisible_reason']}"
        scenes = ",".join(s.replace("SELF_RECOVERY", "SELF_REC") for s in a["scenes"])
        table.add_row(a["code"], a["name"], a["category"], scenes, str(len(a["params"])), visible)
    console = Console(width=160)
    console.print(table)
    kinds = Table("code", "name", "category", "observes", "params", title="Inspection checks")
    kinds.add_column("visible", overflow="fold")
    for c in checks:
        visible = "yes" if c["user_visible"] else f"no: {c['invisible_reason']}"
        observes = ", ".join(o["name"] for o in c["observes"])
        kinds.add_row(c["code"], c["name"], c["category"], observes, str(len(c["params"])), visible)
    console.print(kinds)


@catalog_app.command("show")
def catalog_show(code: str, as_json: JsonFlag = False) -> None:
    """One action with every parameter's metadata."""
    with sessions()() as session:
        found = [a for a in load_actions(session, include_retired=True) if a["code"] == code]
        kinds = [c for c in load_check_kinds(session, include_retired=True) if c["code"] == code]
    if not found and kinds:
        _show_check_kind(kinds[0], as_json)
        return
    if not found:
        raise NightwatchError(code, "no such action in the catalog (`nightwatch catalog list`)")
    action = found[0]
    if as_json:
        emit_json(action)
        return
    say(f"{action['code']}  {action['name']}  ({action['category']})")
    say(f"  {action['description']}")
    say(f"  scenes: {', '.join(action['scenes'])}")
    visible = "yes" if action["user_visible"] else f"no: {action['invisible_reason']}"
    say(f"  visible: {visible}")
    if action["depends_on_configs"]:
        say(f"  needs config: {', '.join(action['depends_on_configs'])}")
    say("  parameters:")
    for p in action["params"]:
        flags = [p["type"], "required" if p["required"] else f"default {p['default']!r}"]
        if p["secret"]:
            flags.append("secret")
        if p["option_source"]:
            flags.append(f"options from {p['option_source']} ({p['option_filter'] or 'all'})")
        if p["validation"]:
            flags.append(json.dumps(p["validation"]))
        say(f"    {p['name']:<16} {p['display_name']}: {'; '.join(flags)}")


@catalog_app.command("sync")
def catalog_sync(as_json: JsonFlag = False) -> None:
    """Sync the catalog now (also re-applies the visibility rule)."""
    from catalog.actions import ACTIONS
    from catalog.sync import sync_catalog
    from nightwatch import __version__

    with sessions()() as session:
        report = sync_catalog(session, ACTIONS, __version__)
        session.commit()
    summary = report.summary()
    if as_json:
        emit_json(summary)
    else:
        say(
            f"created {summary['created']}, updated {summary['updated']}, "
            f"retired {len(summary['retired'])}, unchanged {summary['unchanged']}"
        )


# -- config ------------------------------------------------------------------------------


@config_app.command("list")
def config_list(as_json: JsonFlag = False) -> None:
    """Every system-config key: its value (or unset), type and description."""
    with sessions()() as session:
        rows = session.scalars(
            select(SystemConfig).where(SystemConfig.retired_at.is_(None)).order_by(SystemConfig.key)
        ).all()
    from catalog.system_config import CONFIGS_BY_KEY, shown

    entries = [
        {
            "key": row.key,
            "value": shown(CONFIGS_BY_KEY.get(row.key), row.value["value"] if row.value else None),
            "set": row.value is not None,
            "value_type": row.value_type,
            "description": row.description,
        }
        for row in rows
    ]
    if as_json:
        emit_json({"configs": entries})
        return
    for entry in entries:
        value = json.dumps(entry["value"]) if entry["set"] else "(unset)"
        say(f"{entry['key']:<42} {value:<40} {entry['description']}")


@config_app.command("set")
def config_set(
    key: str,
    value: Annotated[str, typer.Argument(help="JSON, or a plain string")],
    as_json: JsonFlag = False,
) -> None:
    """Set a key (validated against its declared type); actions needing it become visible."""
    from catalog.check_sync import refresh_check_visibility
    from catalog.sync import refresh_visibility
    from catalog.system_config import CONFIGS_BY_KEY

    spec = CONFIGS_BY_KEY.get(key)
    if spec is None:
        raise NightwatchError(key, "no such system-config key (`nightwatch config list`)")
    if spec.read_only:
        raise NightwatchError(key, "read-only: set once by initialisation")
    try:
        raw: Any = json.loads(value)
    except json.JSONDecodeError:
        raw = value
    parsed = spec.parse(raw)
    with sessions()() as session:
        row = session.scalar(select(SystemConfig).where(SystemConfig.key == key))
        if row is None:
            raise NightwatchError(
                key, "not initialised yet: start a worker or `nightwatch init run`"
            )
        row.value = {"value": parsed}
        now_visible = refresh_visibility(session) + refresh_check_visibility(session)
        session.commit()
    from catalog.system_config import shown

    if as_json:
        emit_json({"key": key, "value": shown(spec, parsed), "visibility_changed": now_visible})
    else:
        say(f"{key} = {json.dumps(shown(spec, parsed))}")
        for code in now_visible:
            say(f"  visibility changed: {code}")


# -- init --------------------------------------------------------------------------------


@init_app.command("status")
def init_status(as_json: JsonFlag = False) -> None:
    """Every initialisation task, its strategy, and who ran it for which deployment."""
    from runtime.init_tasks import INIT_TASKS

    with sessions()() as session:
        runs = session.scalars(select(InitTaskRun).order_by(InitTaskRun.id)).all()
    tasks: list[dict[str, Any]] = []
    for task in INIT_TASKS:
        mine = [
            {
                "deployment": run.deployment,
                "server": run.server,
                "state": run.state,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "seconds": round((run.finished_at - run.started_at).total_seconds(), 3)
                if run.finished_at
                else None,
                "error": run.error,
            }
            for run in runs
            if run.task == task.name
        ]
        tasks.append(
            {
                "task": task.name,
                "strategy": task.strategy,
                "description": task.description,
                "runs": mine,
            }
        )
    if as_json:
        emit_json({"tasks": tasks})
        return
    for task_info in tasks:
        say(f"{task_info['task']}  [{task_info['strategy']}]  {task_info['description']}")
        for run in task_info["runs"] or [{"state": "never ran"}]:
            if "server" not in run:
                say("    never ran")
                continue
            took = f"{run['seconds']}s" if run["seconds"] is not None else "-"
            error = f"  {run['error']}" if run["error"] else ""
            say(
                f"    {run['state']:<9} {run['deployment']:<28} {run['server']:<28} "
                f"{run['started_at'][:19]}  {took}{error}"
            )


@init_app.command("run")
def init_run(as_json: JsonFlag = False) -> None:
    """Run the initialisation tasks as a worker does at start-up (migrating first)."""
    from runtime.init_tasks import INIT_TASKS
    from runtime.initialisation import default_context, run_tasks
    from storage.migrate import upgrade

    current = settings()
    upgrade(current.effective_database_url)
    outcomes = run_tasks(
        current.effective_database_url,
        INIT_TASKS,
        default_context(current.deployment),
        wait_seconds=current.init_wait_seconds,
    )
    if as_json:
        emit_json(
            {
                "tasks": [
                    {
                        "task": o.task,
                        "deployment": o.deployment,
                        "ran": o.ran,
                        "done_by": o.done_by,
                        "seconds": round(o.seconds, 3),
                    }
                    for o in outcomes
                ]
            }
        )
        return
    for o in outcomes:
        say(f"{o.task:<18} " + (f"ran ({o.seconds:.2f}s)" if o.ran else f"done by {o.done_by}"))
