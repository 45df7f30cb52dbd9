"""`nightwatch`: the local stack, the database, the worker; later issues add plans and runs."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import audit_cmds, inbox_cmds, login_cmds, run_cmds
from cli.account_cmds import account_app
from cli.alert_cmds import alerts_app
from cli.catalog_cmds import catalog_app, config_app, init_app
from cli.context import settings
from cli.inspect_cmds import inspect_app
from cli.output import FAILED, OK, JsonFlag, emit_json, report, report_unexpected, say
from cli.plan_cmds import plan_app
from cli.risk_cmds import risk_app
from nightwatch import __version__
from nightwatch.errors import DatabaseError, NightwatchError

app = typer.Typer(
    name="nightwatch",
    help="Emergency-runbook orchestrator on Temporal. `nightwatch up` starts a local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(config_app, name="config")
app.add_typer(init_app, name="init")
app.add_typer(plan_app, name="plan")
app.add_typer(alerts_app, name="alerts")
app.add_typer(inspect_app, name="inspect")
app.add_typer(risk_app, name="risk")
app.add_typer(login_cmds.token_app, name="token")
app.add_typer(account_app, name="account")
app.registered_commands += (
    login_cmds.app.registered_commands
    + run_cmds.app.registered_commands
    + inbox_cmds.app.registered_commands
    + audit_cmds.app.registered_commands
)
temporal_app = typer.Typer(help="Set up a Temporal namespace for Nightwatch.", no_args_is_help=True)
app.add_typer(temporal_app, name="temporal")


@app.command()
def replay(
    executions: Annotated[
        list[str] | None, typer.Argument(help="Execution ids to fetch from Temporal.")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            help="A visibility query, e.g. "
            '\'WorkflowType="PlanExecution" AND CloseTime > "2026-11-01T00:00:00Z"\'.',
        ),
    ] = None,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="A folder of history JSON files.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay histories against this code (exit 1 if any no longer replays): the gate to
    run before upgrading."""
    from audit.replay import histories_from, histories_in
    from audit.replay import replay as replay_all
    from nightwatch.temporal import connect

    if not executions and not query and folder is None:
        raise NightwatchError("replay", "name executions, --query or --dir")
    for execution in executions or []:
        run_cmds.execution_id(execution)
    if folder is not None and not folder.is_dir():
        raise NightwatchError(str(folder), "no such folder")

    async def gather() -> list[Any]:
        found = histories_in(folder) if folder is not None else []
        if executions or query:
            client = await connect(settings())
            url = settings().effective_database_url
            found += [item async for item in histories_from(client, executions or [], query, url)]
        return await replay_all(found, ring=settings().key_ring())

    results = asyncio.run(gather())
    failed = [r for r in results if not r.ok]
    if as_json:
        emit_json(
            {
                "replayed": len(results),
                "failed": len(failed),
                "results": [r.as_dict() for r in results],
            }
        )
    else:
        for result in results:
            if result.ok:
                say(f"ok                 {result.workflow_id}  ({result.source})")
            else:
                say(f"NON-DETERMINISTIC  {result.workflow_id}  ({result.source})")
                say(f"    {result.error}")
        say(f"{len(results)} replayed, {len(failed)} failed")
    if failed:
        raise typer.Exit(FAILED)


@app.command()
def version(as_json: JsonFlag = False) -> None:
    """Print the Nightwatch version."""
    if as_json:
        emit_json({"version": __version__})
    else:
        say(__version__)


@app.command()
def up(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once ready; leave the stack running.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the example plans once ready.")
    ] = False,
) -> None:
    """Start the local stack: PostgreSQL, Temporal and its Web UI, the API, the simulator and
    a worker."""
    from stack.demo import run_demo
    from stack.stack import Stack, addresses

    current = settings()
    stack = Stack(current, say)
    if stack.running():
        say("already running")
        if demo:
            run_demo(current, say)
        _print_ready(addresses(current), detach=True)
        return
    stack.up()
    if demo:
        run_demo(current, say)
    _print_ready(addresses(current), detach=detach)
    if not detach:
        raise typer.Exit(stack.supervise())


def _print_ready(where: dict[str, str], *, detach: bool) -> None:
    say("ready  " + "  ".join(f"{key}={value}" for key, value in where.items()))
    say(f"Console: {where['console']}   Web UI: {where['ui']}   API: {where['api']}")
    if detach:
        say("Stop with: nightwatch down")
    else:
        say("Stop with Ctrl-C (or `nightwatch down` from another terminal).")


@app.command()
def down() -> None:
    """Stop the local stack started by `nightwatch up`; its data is kept."""
    from stack.stack import Stack

    if not Stack(settings(), say).down():
        say("nothing was running")


@app.command()
def health(
    as_json: JsonFlag = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also run a diagnostics workflow end to end.")
    ] = False,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Only what a worker needs (database, Temporal, workers on the queue): a "
            "container's readiness probe, without the Web UI or the local stack's services.",
        ),
    ] = False,
) -> None:
    """Report each part (database, Temporal, Web UI, worker); exit 0 only if all are up."""
    from stack.health import check_all
    from stack.stack import Stack

    current = settings()
    http = None if probe else Stack(current, say).http_parts()
    parts = asyncio.run(check_all(current, deep=deep, http=http, ui=not probe))
    healthy = all(part.ok for part in parts)
    if as_json:
        emit_json({"ok": healthy, "parts": [part.to_dict() for part in parts]})
    else:
        for part in parts:
            mark = "up  " if part.ok else "DOWN"
            say(f"{part.part:<9} {mark}  {part.address}  {part.detail}")
    raise typer.Exit(OK if healthy else FAILED)


@app.command()
def worker() -> None:
    """Run a worker: migrate, initialise, then register with Temporal (Ctrl-C to stop)."""
    import worker as process  # the worker process as worker.py shows it

    asyncio.run(process.main())


def _serve(application: Any, port: int, openapi: bool, **server: Any) -> None:
    """Print the app's OpenAPI document, or serve it with uvicorn on 127.0.0.1."""
    import uvicorn

    if openapi:
        emit_json(application.openapi())
        return
    host = settings().listen_host
    uvicorn.run(application, host=host, port=port, log_config=None, **server)


Port = Annotated[
    int, typer.Option(help="Port to listen on (on NIGHTWATCH_LISTEN_HOST, default 127.0.0.1).")
]
OpenApi = Annotated[bool, typer.Option("--openapi", help="Print the OpenAPI document.")]


@app.command()
def api(port: Port = 0, openapi: OpenApi = False) -> None:
    """Serve the plan API (plans, catalog, parameter options)."""
    from api.app import create_app

    current = settings()
    _serve(create_app(current), port or current.api_port, openapi)


@app.command()
def intake(port: Port = 0, openapi: OpenApi = False) -> None:
    """Serve the alert intake (webhooks from Alertmanager, Grafana, generic senders); on TLS,
    with client certificates required, when its TLS settings say so."""
    from intake.app import create_app

    current = settings()
    tls: dict[str, Any] = {}
    if current.intake_tls_cert:
        tls = {
            "ssl_certfile": str(current.intake_tls_cert),
            "ssl_keyfile": str(current.intake_tls_key),
        }
    if current.intake_tls_client_ca:
        tls |= {
            "ssl_ca_certs": str(current.intake_tls_client_ca),
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }
    _serve(create_app(current), port or current.intake_port, openapi, **tls)


@app.command()
def simulator(
    port: Port = 0,
    step_seconds: Annotated[
        float, typer.Option(help="How long a release-order batch or a restart takes.", min=0.05)
    ] = 3.0,
) -> None:
    """Serve the platform simulator (development and tests only). With
    NIGHTWATCH_SIMULATOR_TOKEN set, platform calls need that bearer token."""
    import uvicorn

    from simulator.app import create_app

    current = settings()
    if current.env == "production":
        raise NightwatchError("NIGHTWATCH_ENV", "the simulator does not run in production")
    token = current.simulator_token.get_secret_value() or None
    uvicorn.run(
        create_app(token=token, step_seconds=step_seconds),
        host="127.0.0.1",
        port=port or current.simulator_port,
        log_config=None,
    )


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Apply every pending migration (safe when several servers run it at once)."""
    from storage.migrate import upgrade

    result = upgrade(settings().effective_database_url)
    if as_json:
        emit_json(
            {
                "before": result.before,
                "after": result.after,
                "head": result.head,
                "newer_schema": result.newer_schema,
            }
        )
    elif result.newer_schema:
        say(f"schema at {result.after} is newer than this server ({result.head}); left as it is")
    elif result.changed:
        say(f"upgraded {result.before or 'empty'} -> {result.after}")
    else:
        say(f"already at {result.after}")


@db_app.command("current")
def db_current(as_json: JsonFlag = False) -> None:
    """Show the schema revision of the database and the newest one this code knows."""
    from storage.migrate import current_revision, head_revision

    url = settings().effective_database_url
    current, head = current_revision(url), head_revision()
    if as_json:
        emit_json({"current": current, "head": head})
    else:
        say(f"database {current or 'empty'}; code head {head}")


@temporal_app.command("register-search-attributes")
def temporal_register(as_json: JsonFlag = False) -> None:
    """Add PlanId, PlanScene, ExecutionId, TriggerKind, AlertFingerprint where missing."""
    from nightwatch.search_attributes import register_search_attributes
    from nightwatch.temporal import connect

    async def register() -> list[str]:
        return await register_search_attributes(await connect(current))

    current = settings()
    added = asyncio.run(register())
    if as_json:
        emit_json({"added": added, "namespace": current.temporal_namespace})
    else:
        say(f"added {', '.join(added)}" if added else "all search attributes already registered")


def _invoke() -> int:
    """Run the command; turn every way it can end into an exit code."""
    from sqlalchemy.exc import DataError, OperationalError
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    try:
        for index, argument in enumerate(sys.argv[1:], 1):
            if "\x00" in argument:
                raise NightwatchError(f"argument {index}", "contains a NUL character")
        app()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        typer.echo(str(exc.code), err=True)
        return FAILED
    except NightwatchError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130
    # Failures of the environment, not of the program: one line each, no "unexpected".
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "system"
        return report(NightwatchError(str(where)[:120], exc.strerror or str(exc)))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        return report(DatabaseError("database", f"{reason} (is it running? `nightwatch up`)"))
    except DataError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return report(NightwatchError("input", f"the database refused a value: {reason}"))
    except RPCError as exc:
        return report(NightwatchError("temporal", exc.message))
    except WorkflowQueryFailedError as exc:
        return report(NightwatchError("temporal", str(exc)))
    except Exception as exc:
        if os.environ.get("NIGHTWATCH_DEBUG"):
            traceback.print_exc()
        return report_unexpected(exc)
    return OK


def main() -> None:
    code = _invoke()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the Temporal client's Rust threads can abort it
    # (temporalio/sdk-python#300), turning a finished command into SIGABRT.
    os._exit(code)
