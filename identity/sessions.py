"""Browser sessions: a random secret in an HttpOnly cookie, kept here as its SHA-256.

A session ends at sign-out, after `idle` without a request, or at its absolute expiry,
whichever comes first. Each has its own CSRF token, which every write made with the
cookie must send back (`X-CSRF-Token`): another site can make a browser send the cookie,
but it cannot read the token. The token is derived from the cookie's secret (an HMAC),
so the database holds nothing that would let its reader forge either. A sign-in through the
OpenID provider starts as a session that holds only that sign-in's pending state, and
becomes a new session (a new secret) once the provider has proven who it is, so a secret
seen before sign-in is worth nothing after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from identity.model import Identity
from nightwatch.errors import Unauthenticated
from storage.models import WebSession

PENDING_FOR = timedelta(minutes=10)  # how long a sign-in at the provider may take
SEEN_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often
ENDED = "your session has ended: sign in again"


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class NewSession:
    secret: str  # the cookie's value: given to the browser once, never stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Found:
    identity: Identity
    csrf_token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds `secret`."""
    digest = hmac.new(secret.encode(), b"nightwatch csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _new(session: Session, expires_at: datetime, **values: Any) -> NewSession:
    secret = secrets.token_urlsafe(32)
    session.add(WebSession(secret_hash=_hash(secret), expires_at=expires_at, **values))
    session.flush()
    return NewSession(secret, csrf_token(secret), expires_at)


def start(session: Session, identity: Identity, lifetimes: Lifetimes) -> NewSession:
    """A signed-in session for `identity` (the caller commits)."""
    return _new(
        session,
        datetime.now(UTC) + lifetimes.absolute,
        identity=identity.model_dump(mode="json"),
    )


def start_pending(session: Session, pending: dict[str, Any]) -> NewSession:
    """A session holding a sign-in at the provider until it comes back (the caller commits)."""
    return _new(session, datetime.now(UTC) + PENDING_FOR, pending=pending)


def take_pending(session: Session, secret: str) -> dict[str, Any]:
    """The pending sign-in of this cookie, used up (a callback cannot be replayed)."""
    row = _live(session, secret)
    if row is None or row.pending is None or row.pending.get("kind") != "oidc":
        raise Unauthenticated("sign-in", "no sign-in in progress in this browser: start again")
    pending = dict(row.pending)
    row.ended_at = datetime.now(UTC)
    return pending


def _live(session: Session, secret: str) -> WebSession | None:
    if not secret or len(secret) > 128:
        return None
    row = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(secret)))
    if row is None or row.ended_at is not None or row.expires_at <= datetime.now(UTC):
        return None
    return row


def resolve(session: Session, secret: str, lifetimes: Lifetimes) -> Found:
    """The identity a session cookie proves; Unauthenticated once it has ended. Commits
    only when it records the session as seen (at most every `SEEN_EVERY`)."""
    row = _live(session, secret)
    now = datetime.now(UTC)
    if row is None or row.identity is None or row.pending is not None:
        # A row with `pending` is a sign-in in progress (the provider's, or the CLI's),
        # never a session, whatever identity it holds.
        raise Unauthenticated("session", ENDED)
    if now - row.last_seen_at > lifetimes.idle:
        row.ended_at = now
        session.commit()
        raise Unauthenticated("session", ENDED)
    if now - row.last_seen_at >= SEEN_EVERY:
        session.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now))
        session.commit()
    return Found(Identity.model_validate(row.identity), csrf_token(secret))


def end(session: Session, secret: str) -> None:
    """Sign out: the session is over whatever its expiry said (the caller commits)."""
    row = _live(session, secret)
    if row is not None:
        row.ended_at = datetime.now(UTC)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def purge(session: Session, older_than: timedelta = timedelta(days=30)) -> int:
    """Remove sessions that ended or expired long ago (the caller commits)."""
    cutoff = datetime.now(UTC) - older_than
    result = session.execute(delete(WebSession).where(WebSession.expires_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
