"""Signing in and out (local accounts, the OpenID provider), API tokens and local accounts.

A browser signs in to a session cookie (HttpOnly, SameSite=Lax, Secure unless turned off
for plain-HTTP development) and reads its CSRF token from the answer or `/auth/me`; the
CLI and automation use API tokens (`/auth/token` turns a local account's password into
one, shown once). What each route needs is in its parameter types (identity/guard.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.errors import ErrorBody
from identity import accounts, cli_sign_in, sessions, tokens
from identity.authn import Authenticator
from identity.guard import COOKIE, Admin, SignedIn, SignedInForm, authenticator
from identity.model import Identity, parse_roles, role_names
from identity.oidc import SignInStart
from identity.throttle import TooManyFailures
from nightwatch.errors import Forbidden, NotFound, Unauthenticated
from storage.models import ApiToken

router = APIRouter(tags=["sign-in and tokens"])
SLOWED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "too many failed sign-ins from your address"}
}
Strict = ConfigDict(extra="forbid")


class SignIn(BaseModel):
    model_config = Strict
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class TokenSignIn(SignIn):
    name: str = Field("nightwatch CLI", min_length=1, max_length=200)
    days: int = Field(30, ge=1, le=365)


class Me(BaseModel):
    user: str
    roles: list[str]
    groups: list[str]
    proven_by: str
    csrf_token: str | None = Field(None, description="send it in X-CSRF-Token with writes")
    expires_at: datetime | None = None


class TokenRequest(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200, description="what the token is for")
    roles: list[str] = Field(min_length=1, description="never more than your own")
    owner: str | None = Field(None, max_length=200, description="admins only: someone else")
    days: int = Field(90, ge=1, le=365)


class NewTokenView(BaseModel):
    token_id: str
    token: str = Field(description="shown this once: it is kept only as a hash")
    owner: str
    roles: list[str]
    expires_at: datetime


class TokenView(BaseModel):
    token_id: str
    name: str
    owner: str
    roles: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewAccount(BaseModel):
    model_config = Strict
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[str] = Field(min_length=1)
    groups: list[str] = Field(default_factory=list, description="names `group:NAME` can match")
    display_name: str | None = Field(None, max_length=200)


class AccountView(BaseModel):
    username: str
    display_name: str | None
    roles: list[str]
    groups: list[str]
    created_by: str | None
    last_sign_in_at: datetime | None
    locked_until: datetime | None
    disabled_at: datetime | None


class NewPassword(BaseModel):
    model_config = Strict
    password: str = Field(min_length=1, max_length=1024)


def _shown_once(made: tokens.NewToken, owner: str, roles: list[str]) -> NewTokenView:
    return NewTokenView(
        token_id=made.token_id,
        token=made.secret,
        owner=owner,
        roles=roles,
        expires_at=made.expires_at,
    )


def _me(identity: Identity, found: sessions.NewSession | None = None) -> Me:
    return Me(
        user=identity.user,
        roles=role_names(identity.roles),
        groups=sorted(identity.groups),
        proven_by=identity.proven_by,
        csrf_token=found.csrf_token if found else None,
        expires_at=found.expires_at if found else None,
    )


def _set_cookie(response: Response, auth: Authenticator, found: sessions.NewSession) -> None:
    response.set_cookie(
        COOKIE,
        found.secret,
        max_age=int(auth.config.lifetimes.absolute.total_seconds()),
        httponly=True,
        secure=auth.config.cookie_secure,
        samesite="lax",  # sent on the provider's redirect back; CSRF tokens guard writes
        path="/",
    )


def _local(request: Request) -> Authenticator:
    auth = authenticator(request)
    if not auth.config.local_accounts:
        raise NotFound("sign-in", "local accounts are off here: sign in through the provider")
    return auth


# -- local accounts --------------------------------------------------------------------------


async def _sign_in(request: Request, session: Session, body: SignIn) -> Identity:
    """A local account's password checked, failures counted per client address too."""
    throttle = authenticator(request).throttle
    address = request.client.host if request.client else "unknown"
    throttle.check(address)
    try:
        return await run_in_threadpool(accounts.sign_in, session, body.username, body.password)
    except Unauthenticated:
        throttle.failed(address)
        raise


@router.post(
    "/auth/login", summary="Sign in with a local account (a session cookie)", responses=SLOWED
)
async def login(body: SignIn, request: Request, response: Response, session: SessionDep) -> Me:
    auth = _local(request)
    identity = await _sign_in(request, session, body)
    found = sessions.start(session, identity, auth.config.lifetimes)
    session.commit()
    _set_cookie(response, auth, found)
    return _me(identity, found)


@router.get("/auth/login", summary="A page to sign in with a local account", name="login_page")
def login_page(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> HTMLResponse:
    """For browsers until the console's pages come: signs in to the session cookie the Web
    UI's codec calls (and the console) use."""
    _local(request)
    form = (
        '<form method="post" action="/auth/login/form">'
        f'<input type="hidden" name="next" value="{escape(_local_path(next_path))}">'
        '<p><label>Username <input name="username" autocomplete="username" required></label></p>'
        '<p><label>Password <input name="password" type="password" '
        'autocomplete="current-password" required></label></p>'
        '<button type="submit">Sign in</button></form>'
    )
    return HTMLResponse(_page("Sign in to Nightwatch", form))


@router.post(
    "/auth/login/form", summary="The sign-in page's form (a session cookie)", responses=SLOWED
)
async def login_form(request: Request, session: SessionDep) -> Response:
    auth = _local(request)
    form = await request.form()
    body = SignIn(
        username=str(form.get("username") or "-"), password=str(form.get("password") or "-")
    )
    try:
        identity = await _sign_in(request, session, body)
    except (Unauthenticated, TooManyFailures) as refused:
        if form.get("back") == "/console/sign-in":  # the console's page says it in its language
            target = quote(_local_path(str(form.get("next") or "/console/")), safe="")
            kind = "throttled" if isinstance(refused, TooManyFailures) else "refused"
            return RedirectResponse(f"/console/sign-in?failed={kind}&next={target}", 303)
        page = _page(
            "Sign in to Nightwatch",
            f'<p>{escape(refused.reason)}</p><p><a href="/auth/login">Try again</a></p>',
        )
        return HTMLResponse(page, status_code=401 if isinstance(refused, Unauthenticated) else 429)
    found = sessions.start(session, identity, auth.config.lifetimes)
    session.commit()
    response = RedirectResponse(_local_path(str(form.get("next") or "/")), status_code=303)
    _set_cookie(response, auth, found)
    return response


@router.post(
    "/auth/token",
    summary="Sign in with a local account and get an API token for the CLI (shown once)",
    status_code=201,
    responses=SLOWED,
)
async def token_login(body: TokenSignIn, request: Request, session: SessionDep) -> NewTokenView:
    _local(request)
    identity = await _sign_in(request, session, body)
    made = tokens.create(
        session,
        identity,
        name=body.name,
        roles=identity.roles,
        lifetime=timedelta(days=body.days),
    )
    session.commit()
    return _shown_once(made, identity.user, role_names(identity.roles))


@router.post("/auth/logout", status_code=204, summary="Sign out (the session ends)")
def logout(request: Request, identity: SignedIn, session: SessionDep) -> Response:
    secret = request.cookies.get(COOKIE, "")
    sessions.end(session, secret)
    session.commit()
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/auth/me", summary="Who you are, and your session's CSRF token")
async def me(request: Request, identity: SignedIn) -> Me:
    shown = _me(identity)
    secret = request.cookies.get(COOKIE)
    if secret and not request.headers.get("authorization"):
        found = await authenticator(request).session(secret)
        shown.csrf_token = found.csrf_token
    return shown


# -- the OpenID provider ------------------------------------------------------------------------


def _provider(request: Request) -> Authenticator:
    auth = authenticator(request)
    if auth.provider is None:
        raise NotFound("sign-in", "no OpenID provider is configured (NIGHTWATCH_OIDC_ISSUER)")
    return auth


def _local_path(target: str) -> str:
    """Where to go after sign-in: a path of this site only (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/auth/oidc/start", summary="Sign in through the bank's OpenID provider")
async def oidc_start(
    request: Request,
    session: SessionDep,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/",
) -> RedirectResponse:
    auth = _provider(request)
    assert auth.provider is not None
    started = await auth.provider.start()
    pending = {
        "kind": "oidc",
        "state": started.state,
        "nonce": started.nonce,
        "code_verifier": started.code_verifier,
        "next": _local_path(next_path),
    }
    found = sessions.start_pending(session, pending)
    session.commit()
    response = RedirectResponse(started.url, status_code=303)
    _set_cookie(response, auth, found)
    return response


@router.get("/auth/oidc/callback", summary="Where the provider sends the browser back")
async def oidc_callback(request: Request, session: SessionDep) -> RedirectResponse:
    auth = _provider(request)
    assert auth.provider is not None
    pending = sessions.take_pending(session, request.cookies.get(COOKIE, ""))
    session.commit()
    started = SignInStart(
        url="",
        state=pending["state"],
        nonce=pending["nonce"],
        code_verifier=pending["code_verifier"],
    )
    identity = await auth.provider.finish(started, str(request.url))
    if not identity.roles:
        raise Unauthenticated(
            "sign-in", f"{identity.user} is in no group that has a role here (ask an admin)"
        )
    found = sessions.start(session, identity, auth.config.lifetimes)
    session.commit()
    response = RedirectResponse(pending.get("next") or "/", status_code=303)
    _set_cookie(response, auth, found)
    return response


# -- API tokens ---------------------------------------------------------------------------------


@router.post("/api/v1/tokens", status_code=201, summary="Create an API token (shown once)")
def create_token(body: TokenRequest, identity: SignedIn, session: SessionDep) -> NewTokenView:
    made = tokens.create(
        session,
        identity,
        name=body.name,
        roles=parse_roles(body.roles, path="roles"),
        owner=body.owner,
        lifetime=timedelta(days=body.days),
    )
    session.commit()
    return _shown_once(made, body.owner or identity.user, sorted(set(body.roles)))


@router.get("/api/v1/tokens", summary="Your tokens (every token for an admin); never a secret")
def list_tokens(identity: SignedIn, session: SessionDep) -> list[TokenView]:
    return [_token_view(row) for row in tokens.listed(session, identity)]


def _token_view(row: ApiToken) -> TokenView:
    return TokenView.model_validate(row, from_attributes=True)


@router.delete("/api/v1/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(token_id: str, identity: SignedIn, session: SessionDep) -> Response:
    tokens.revoke(session, identity, token_id)
    session.commit()
    return Response(status_code=204)


# -- local accounts (admin) ---------------------------------------------------------------------


@router.post("/api/v1/accounts", status_code=201, summary="Create a local account")
async def create_account(body: NewAccount, identity: Admin, session: SessionDep) -> AccountView:
    row = await run_in_threadpool(
        accounts.create,
        session,
        body.username,
        body.password,
        parse_roles(body.roles, path="roles"),
        by=identity.proven_by,
        display_name=body.display_name,
        groups=body.groups,
    )
    session.commit()
    return AccountView.model_validate(row, from_attributes=True)


@router.get("/api/v1/accounts", summary="Local accounts")
def list_accounts(identity: Admin, session: SessionDep) -> list[AccountView]:
    return [AccountView.model_validate(a, from_attributes=True) for a in accounts.listed(session)]


@router.post("/api/v1/accounts/{username}/disable", summary="Disable a local account")
def disable_account(username: str, identity: Admin, session: SessionDep) -> AccountView:
    accounts.disable(session, username)
    session.commit()
    return AccountView.model_validate(accounts.get(session, username), from_attributes=True)


@router.put("/api/v1/accounts/{username}/password", status_code=204, summary="Set a password")
async def set_password(
    username: str, body: NewPassword, identity: Admin, session: SessionDep
) -> Response:
    await run_in_threadpool(accounts.set_password, session, username, body.password)
    session.commit()
    return Response(status_code=204)


# -- the CLI signing in through the provider (identity/cli_sign_in.py) ---------------------


class CliStart(BaseModel):
    model_config = Strict
    host: str = Field("", max_length=200, description="the machine asking (shown to the person)")


class CliStarted(BaseModel):
    device_code: str = Field(description="the CLI's secret: poll /auth/cli/token with it")
    user_code: str = Field(description="show it; the person checks it in the browser")
    verification_uri: str
    expires_at: datetime
    interval: int


class CliRedeem(BaseModel):
    model_config = Strict
    device_code: str = Field(min_length=1, max_length=200)
    days: int = Field(30, ge=1, le=365)


@router.post("/auth/cli/start", summary="The CLI asks to be signed in by a person in a browser")
def cli_start(body: CliStart, request: Request, session: SessionDep) -> CliStarted:
    started = cli_sign_in.start(session, body.host)
    session.commit()
    return CliStarted(
        device_code=started.device_code,
        user_code=started.user_code,
        verification_uri=str(
            request.url_for("cli_page").include_query_params(code=started.user_code)
        ),
        expires_at=started.expires_at,
        interval=cli_sign_in.INTERVAL_SECONDS,
    )


@router.get("/auth/cli", summary="The page where a person allows a CLI sign-in", name="cli_page")
async def cli_page(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    secret = request.cookies.get(COOKIE, "")
    try:
        found = await authenticator(request).session(secret)
    except Unauthenticated:
        here = request.url.path + (f"?code={quote(code)}" if code else "")
        if authenticator(request).provider is None:
            return HTMLResponse(
                _page("Sign in first", "<p>Sign in to Nightwatch, then open this page again.</p>"),
                status_code=401,
            )
        return RedirectResponse(f"/auth/oidc/start?next={quote(here)}", status_code=303)
    asked = cli_sign_in.describe(session, code)
    who = found.identity
    form = (
        f"<p>The command line on <b>{escape(asked['host'] or 'a machine')}</b> asks to act as "
        f"<b>{escape(who.user)}</b> ({escape(who.shown_roles)}).</p>"
        f"<p>Allow it only if it shows the code <b>{escape(asked['user_code'])}</b>.</p>"
        '<form method="post" action="/auth/cli/allow">'
        f'<input type="hidden" name="code" value="{escape(asked["user_code"])}">'
        f'<input type="hidden" name="csrf_token" value="{escape(found.csrf_token)}">'
        '<button type="submit">Allow</button></form>'
    )
    return HTMLResponse(_page("Sign the command line in", form))


@router.post("/auth/cli/allow", summary="A signed-in person allows a CLI sign-in (a form)")
async def cli_allow(request: Request, identity: SignedInForm, session: SessionDep) -> HTMLResponse:
    form = await request.form()
    secret = request.cookies.get(COOKIE, "")
    given = str(form.get("csrf_token") or "")
    if not secret or not sessions.csrf_matches(sessions.csrf_token(secret), given):
        raise Forbidden("csrf_token", "this form needs the session's CSRF token")
    cli_sign_in.allow(session, str(form.get("code") or ""), identity)
    session.commit()
    return HTMLResponse(
        _page("Done", "<p>The command line is signed in. You can close this page.</p>")
    )


@router.post(
    "/auth/cli/token",
    status_code=201,
    summary="The CLI's token once a person allowed its sign-in (409 while pending)",
)
def cli_token(body: CliRedeem, session: SessionDep) -> NewTokenView:
    try:
        made, identity = cli_sign_in.redeem(session, body.device_code, body.days)
    except cli_sign_in.Pending:
        session.rollback()
        raise
    session.commit()
    return _shown_once(made, identity.user, role_names(identity.roles))


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Nightwatch: {escape(title)}</title></head>"
        "<body style='font-family: sans-serif; max-width: 40em; margin: 3em auto'>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )
