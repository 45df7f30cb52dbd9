"""FastAPI's side of authentication: every route names the role it needs.

`Viewer`, `Operator`, `Approver`, `Admin` (and `SignedIn`, any role) are the parameter
types a route declares; each proves the caller (a bearer token or the session cookie)
and checks the role before the route runs, so a refused call has done nothing. Writes
made with the session cookie must also carry the session's CSRF token. The identity is
then the only source of "who": a user named in a header or a body counts for nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from identity.authn import Authenticator
from identity.model import Identity, Role
from identity.sessions import csrf_matches
from nightwatch.errors import Forbidden, Unauthenticated

COOKIE = "nightwatch_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def authenticator(request: Request) -> Authenticator:
    found: Authenticator = request.app.state.auth
    return found


async def caller(request: Request, *, reads_only: bool = False) -> Identity:
    """Who calls, proven; Unauthenticated (401) without a credential that proves someone."""
    cached: Identity | None = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    auth = authenticator(request)
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if header and scheme.lower() == "bearer" and credential.strip():
        identity = await auth.bearer(credential.strip())
    elif header:
        raise Unauthenticated("Authorization", "expected `Authorization: Bearer <token>`")
    elif request.cookies.get(COOKIE):
        found = await auth.session(request.cookies[COOKIE])
        writes = request.method not in SAFE_METHODS and not reads_only
        if writes and not csrf_matches(found.csrf_token, request.headers.get(CSRF_HEADER)):
            raise Forbidden(CSRF_HEADER, "a write with the session cookie needs its CSRF token")
        identity = found.identity
    else:
        raise Unauthenticated(
            "Authorization", "sign in first: a bearer token (`nightwatch login`) or a session"
        )
    request.state.identity = identity
    return identity


def _needs(
    role: Role | None, *, reads_only: bool = False
) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency proving the caller and checking `role` (None: any role). `reads_only`
    marks a POST that changes nothing (the codec endpoint decrypting for the Web UI), which
    another origin cannot read the answer of (CORS), so it needs no CSRF token."""

    async def check(request: Request) -> Identity:
        identity = await caller(request, reads_only=reads_only)
        if role is None:
            if not identity.roles:
                raise Forbidden(request.url.path, f"{identity.user} has no role here")
        else:
            identity.require(role, f"{request.method} {request.url.path}")
        return identity

    check.needs_role = role  # type: ignore[attr-defined]  # read by the route-enumeration test
    check.__name__ = f"needs_{role.value if role else 'any_role'}"
    return check


SignedIn = Annotated[Identity, Depends(_needs(None))]
Viewer = Annotated[Identity, Depends(_needs(Role.VIEWER))]
Operator = Annotated[Identity, Depends(_needs(Role.OPERATOR))]
Approver = Annotated[Identity, Depends(_needs(Role.APPROVER))]
Admin = Annotated[Identity, Depends(_needs(Role.ADMIN))]
ViewerReading = Annotated[Identity, Depends(_needs(Role.VIEWER, reads_only=True))]
# A browser form's POST: the route checks the form's `csrf_token` field itself.
SignedInForm = Annotated[Identity, Depends(_needs(None, reads_only=True))]
