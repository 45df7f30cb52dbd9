"""`nightwatch audit`: the audit report of an execution, the archive's chain check."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.context import settings
from cli.output import FAILED, emit_json, say

app = typer.Typer()

Format = Literal["md", "json", "html"]


@app.command()
def audit(
    target: Annotated[
        str,
        typer.Argument(
            help="An execution id; or `verify` (check the archive's hash chain), or "
            "`archive` (archive closed executions now; workers do it on their own)."
        ),
    ],
    format_: Annotated[
        Format, typer.Option("--format", "-f", help="md (default), json or html.")
    ] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (verify/archive).")] = False,
) -> None:
    """The audit report of an execution, from its Temporal history (or the archive) and the
    database (exit 1 when they disagree); `audit verify` checks the archive (exit 1 if
    tampered)."""
    if target == "verify":
        _verify(as_json)
        return
    if target == "archive":
        _archive(as_json)
        return
    from audit.reconcile import build_report
    from audit.render import RENDERERS
    from cli.run_cmds import execution_id
    from nightwatch.temporal import connect

    execution_id(target)
    current = settings()

    async def build() -> dict[str, object]:
        client = await connect(current)
        return await build_report(
            client, current.effective_database_url, target, current.key_ring()
        )

    report = asyncio.run(build())
    text = RENDERERS["json" if as_json else format_](report)
    if output is not None:
        output.write_text(text)
        say(f"audit report written to {output} ({'agrees' if report['agrees'] else 'DISAGREES'})")
    else:
        say(text)
    if not report["agrees"]:
        raise typer.Exit(FAILED)


def _verify(as_json: bool) -> None:
    from audit.archive import verify_chain

    check = verify_chain(settings().effective_database_url)
    if as_json:
        emit_json({"rows": check.rows, "ok": check.ok, "broken": check.broken})
    else:
        for line in check.broken:
            say(f"BROKEN  {line}")
        say(f"{check.rows} archived histories, chain {'intact' if check.ok else 'BROKEN'}")
    if not check.ok:
        raise typer.Exit(FAILED)


def _archive(as_json: bool) -> None:
    from audit.archive import archive_closed
    from nightwatch.temporal import connect

    current = settings()

    async def run() -> list[object]:
        client = await connect(current)
        return list(await archive_closed(client, current.effective_database_url))

    added = asyncio.run(run())
    if as_json:
        emit_json({"archived": [vars(a) for a in added]})
    else:
        for item in added:
            say(f"archived  {vars(item)['workflow_id']}  ({vars(item)['events']} events)")
        say(f"{len(added)} histories archived")
