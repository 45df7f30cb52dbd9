"""`nightwatch login|logout|whoami` and `nightwatch token create|list|revoke`: who the CLI
acts as. Every operator command calls the API with the token kept here."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from cli.api_client import Api, ApiRefused, forget_credential, store_credential
from cli.context import settings
from cli.output import JsonFlag, emit_json, say
from nightwatch.errors import NightwatchError

app = typer.Typer()
token_app = typer.Typer(help="API tokens for automation (shown once).", no_args_is_help=True)


@app.command()
def login(
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="A local account (asks the password).")
    ] = None,
    token: Annotated[
        bool, typer.Option("--token", help="Read an API token from standard input.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    sso: Annotated[
        bool, typer.Option("--sso", help="Through the bank's provider, in a browser.")
    ] = False,
    days: Annotated[int, typer.Option(min=1, max=365, help="How long the token lasts.")] = 30,
) -> None:
    """Sign the CLI in: through the bank's provider in a browser (--sso), a local account's
    password, or an API token; the token is kept 0600 in the credentials file."""
    current = settings()
    if sso:
        made = _sign_in_in_a_browser(current, days)
        entry = {"token": made["token"], "user": made["owner"], "token_id": made["token_id"]}
        me = _me(current, made["token"])
    elif token:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise NightwatchError("--token", "give the token on standard input")
        me = _me(current, secret)
        entry = {"token": secret, "user": me["user"], "token_id": me["proven_by"].split()[-1]}
    elif username:
        password = (
            sys.stdin.readline().rstrip("\n")
            if password_stdin
            else getpass.getpass(f"password for {username}: ")
        )
        with Api(current, token="") as api:
            made = api.post(
                "/auth/token",
                {"username": username, "password": password, "name": _name(), "days": days},
            )
        entry = {"token": made["token"], "user": made["owner"], "token_id": made["token_id"]}
        me = _me(current, made["token"])
    else:
        raise NightwatchError(
            "login",
            "give --sso (the bank's provider), --username NAME (a local account) "
            "or --token (on standard input)",
        )
    store_credential(current.effective_credentials_file, current.effective_api_url, entry)
    say(f"signed in to {current.effective_api_url} as {me['user']} ({', '.join(me['roles'])})")


def _sign_in_in_a_browser(current: Any, days: int) -> dict[str, Any]:
    """Ask the API for a sign-in, have a person allow it in a browser, collect the token."""
    import socket
    import time
    import webbrowser

    with Api(current, token="") as api:
        started = api.post("/auth/cli/start", {"host": socket.gethostname()[:200]})
        say(f"open {started['verification_uri']}")
        say(f"and allow the sign-in showing the code {started['user_code']}")
        webbrowser.open(started["verification_uri"])
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                made: dict[str, Any] = api.post(
                    "/auth/cli/token", {"device_code": started["device_code"], "days": days}
                )
                return made
            except ApiRefused as refused:
                if refused.error != "Pending":
                    raise
            time.sleep(started["interval"])
    raise NightwatchError("login", "nobody allowed the sign-in within 10 minutes")


def _name() -> str:
    import socket

    return f"nightwatch CLI on {socket.gethostname()}"[:200]


def _me(current: Any, token: str) -> dict[str, Any]:
    with Api(current, token=token) as api:
        me: dict[str, Any] = api.get("/auth/me")
    return me


@app.command()
def logout() -> None:
    """Revoke the CLI's token at the API and forget it here."""
    current = settings()
    path, url = current.effective_credentials_file, current.effective_api_url
    entry = forget_credential(path, url)
    if not entry or not entry.get("token"):
        say(f"not signed in to {url}")
        return
    with Api(current, token=entry["token"]) as api:
        try:
            api.delete(f"/api/v1/tokens/{entry['token_id']}")
        except NightwatchError as error:
            say(f"forgotten here; the API did not revoke it: {error}")
            return
    say(f"signed out of {url}: the token is revoked")


@app.command()
def whoami(as_json: JsonFlag = False) -> None:
    """Who the CLI acts as, with which roles, proven how."""
    with Api(settings()) as api:
        me = api.get("/auth/me")
    if as_json:
        emit_json(me)
        return
    groups = f"; groups {', '.join(me['groups'])}" if me["groups"] else ""
    say(f"{me['user']}: {', '.join(me['roles']) or 'no role'}{groups} ({me['proven_by']})")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    roles: Annotated[list[str], typer.Option("--role", help="A role it gets (repeat).")],
    owner: Annotated[str | None, typer.Option(help="Admins: someone else's token.")] = None,
    days: Annotated[int, typer.Option(min=1, max=365)] = 90,
    as_json: JsonFlag = False,
) -> None:
    """A token for automation, never with more roles than yours; printed once."""
    with Api(settings()) as api:
        made = api.post(
            "/api/v1/tokens", {"name": name, "roles": roles, "owner": owner, "days": days}
        )
    if as_json:
        emit_json(made)
        return
    say(made["token"])
    say(
        f"# {made['token_id']} for {made['owner']} ({', '.join(made['roles'])}), "
        f"expires {made['expires_at'][:10]}: shown this once",
    )


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """Your tokens (every one for an admin); never a secret."""
    with Api(settings()) as api:
        listed = api.get("/api/v1/tokens")
    if as_json:
        emit_json({"tokens": listed})
        return
    for t in listed:
        state = "revoked" if t["revoked_at"] else f"expires {t['expires_at'][:10]}"
        used = (t["last_used_at"] or "never")[:19]
        say(
            f"{t['token_id']}  {t['owner']:<16} {','.join(t['roles']):<24} {state}, "
            f"last used {used}  {t['name']}"
        )


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    with Api(settings()) as api:
        api.delete(f"/api/v1/tokens/{token_id}")
    say(f"token {token_id} revoked")
