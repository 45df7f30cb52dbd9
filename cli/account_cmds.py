"""`nightwatch account …`: local accounts, administered on the server (with its database
settings), like `db upgrade`: how the first admin of a production install is made when
local accounts are on. Signed-in admins use the API (`POST /api/v1/accounts`) instead."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from cli.context import sessions
from cli.output import JsonFlag, emit_json, say
from identity import accounts
from identity.model import parse_roles

account_app = typer.Typer(
    help="Local accounts (run on the server: it writes the database).", no_args_is_help=True
)
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _password(from_stdin: bool, username: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"new password for {username}: ")
    if getpass.getpass("again: ") != first:
        raise typer.BadParameter("the passwords differ")
    return first


@account_app.command("create")
def create(
    username: str,
    roles: Annotated[list[str], typer.Option("--role", help="viewer, operator, approver, admin")],
    groups: Annotated[
        list[str] | None, typer.Option("--group", help="A group `group:NAME` may act as.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a local account (argon2id hash only is kept)."""
    wanted = parse_roles(roles, path="--role")
    password = _password(password_stdin, username)
    with sessions()() as session:
        accounts.create(
            session, username, password, wanted, by="nightwatch account create", groups=groups
        )
        session.commit()
    say(f"account {username} created ({', '.join(sorted(r.value for r in wanted))})")


@account_app.command("password")
def password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (and lift a lock)."""
    new = _password(password_stdin, username)
    with sessions()() as session:
        accounts.set_password(session, username, new)
        session.commit()
    say(f"account {username}: password changed")


@account_app.command("disable")
def disable(username: str) -> None:
    with sessions()() as session:
        accounts.disable(session, username)
        session.commit()
    say(f"account {username} disabled")


@account_app.command("list")
def list_accounts(as_json: JsonFlag = False) -> None:
    with sessions()() as session:
        rows: list[dict[str, Any]] = [
            {
                "username": a.username,
                "roles": a.roles,
                "groups": a.groups,
                "disabled": a.disabled_at is not None,
                "last_sign_in_at": a.last_sign_in_at.isoformat() if a.last_sign_in_at else None,
            }
            for a in accounts.listed(session)
        ]
    if as_json:
        emit_json({"accounts": rows})
        return
    for row in rows:
        state = "  (disabled)" if row["disabled"] else ""
        groups = f" groups {','.join(row['groups'])}" if row["groups"] else ""
        say(f"{row['username']:<20} {','.join(row['roles']):<28}{groups}{state}")
