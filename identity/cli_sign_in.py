"""Signing the CLI in through the bank's provider, in the manner of OAuth's device flow
(RFC 8628): the CLI asks for a sign-in and shows a short code and an address; the person
opens it in a browser, signs in there (the provider, with its own MFA), checks the code and
allows it; the CLI, polling, then receives an API token for that person, once.

The CLI's secret (`device_code`) is kept only as a hash; the short `user_code` is what the
person compares. A request lives `LIFETIME`, is used once, and nothing is issued before a
signed-in person allowed it in a browser session (a CSRF-checked write).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import tokens
from identity.model import Identity
from nightwatch.errors import NightwatchError, NotFound, Unauthenticated
from storage.models import WebSession

LIFETIME = timedelta(minutes=10)
INTERVAL_SECONDS = 2
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alike digits


class Pending(NightwatchError):
    """Not allowed yet: keep polling (HTTP 409 `authorization_pending`)."""


@dataclass(frozen=True)
class Started:
    device_code: str
    user_code: str
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_code() -> str:
    letters = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def start(session: Session, host: str) -> Started:
    """A new CLI sign-in waiting for a person to allow it (the caller commits)."""
    device_code = secrets.token_urlsafe(32)
    user_code = _user_code()
    expires_at = datetime.now(UTC) + LIFETIME
    session.add(
        WebSession(
            secret_hash=_hash(device_code),
            pending={"kind": "cli", "user_code": user_code, "host": host[:200]},
            expires_at=expires_at,
        )
    )
    session.flush()
    return Started(device_code, user_code, expires_at)


def _by_user_code(session: Session, user_code: str) -> WebSession:
    code = user_code.strip().upper()
    row = session.scalar(
        select(WebSession).where(
            WebSession.pending["kind"].astext == "cli",
            WebSession.pending["user_code"].astext == code,
            WebSession.ended_at.is_(None),
            WebSession.expires_at > datetime.now(UTC),
        )
    )
    if row is None:
        raise NotFound("code", "no CLI sign-in waits with this code (it expires in 10 minutes)")
    return row


def describe(session: Session, user_code: str) -> dict[str, Any]:
    """What the person is asked to allow."""
    row = _by_user_code(session, user_code)
    assert row.pending is not None
    return {"user_code": row.pending["user_code"], "host": row.pending.get("host", "")}


def allow(session: Session, user_code: str, identity: Identity) -> None:
    """The signed-in person allows the CLI sign-in with this code (the caller commits)."""
    row = _by_user_code(session, user_code)
    assert row.pending is not None
    if row.identity is not None:
        raise NightwatchError("code", "this CLI sign-in was allowed already")
    row.identity = identity.model_dump(mode="json")


def redeem(session: Session, device_code: str, days: int) -> tuple[tokens.NewToken, Identity]:
    """The CLI's token once a person allowed its sign-in; used up (the caller commits)."""
    row = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(device_code)))
    now = datetime.now(UTC)
    if (
        row is None
        or row.pending is None
        or row.pending.get("kind") != "cli"
        or row.ended_at is not None
        or row.expires_at <= now
    ):
        raise Unauthenticated("device_code", "no such CLI sign-in (expired or used): start again")
    if row.identity is None:
        raise Pending("device_code", "authorization_pending: allow it in the browser")
    identity = Identity.model_validate(row.identity)
    row.ended_at = now
    made = tokens.create(
        session,
        identity,
        name=f"nightwatch CLI on {row.pending.get('host') or 'a machine'}"[:200],
        roles=identity.roles,
        lifetime=timedelta(days=days),
    )
    return made, identity
