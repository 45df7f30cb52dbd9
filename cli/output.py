"""How every command speaks: one-line errors on stderr, stable JSON, documented exit codes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from nightwatch.errors import NightwatchError

# Exit codes (docs/cli.md): 0 ok, 1 failed or unhealthy, 2 bad usage or settings, 3 waiting.
OK, FAILED, USAGE, WAITING = 0, 1, 2, 3
# Every command's `--json` (the keys of each are in docs/cli.md).
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output (docs/cli.md).")]


def say(text: str) -> None:
    typer.echo(text)


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def report(error: NightwatchError) -> int:
    """Print a domain error as one line; return its exit code."""
    typer.echo(f"error: {error}", err=True)
    return error.exit_code


def report_unexpected(exc: BaseException) -> int:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    typer.echo(f"error: unexpected {type(exc).__name__}: {first_line}", err=True)
    typer.echo("  (set NIGHTWATCH_DEBUG=1 for the traceback)", err=True)
    return FAILED
