"""API tokens for the CLI and automation: `nwt_<id>_<secret>`, shown once, kept hashed.

The secret is 32 random bytes, so a SHA-256 of it is all the storage needs (a slow hash
protects guessable passwords; nothing guesses 256 random bits), and checking a token costs
one indexed read. A token acts as its owner with the roles it was given, never more than
its creator had; it expires (at most `LONGEST` after creation) and can be revoked. Its last
use is recorded, at most once a minute so that reads do not become writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from identity.model import Identity, Proof, Role, role_names
from nightwatch.errors import Forbidden, NightwatchError, NotFound, Unauthenticated
from storage.models import ApiToken

PREFIX = "nwt_"
DEFAULT_LIFETIME, LONGEST = timedelta(days=90), timedelta(days=365)
LAST_USE_EVERY = timedelta(minutes=1)
_FORMAT = re.compile(r"nwt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
NOT_VALID = "not a valid token (expired, revoked or mistyped: `nightwatch login`)"


@dataclass(frozen=True)
class NewToken:
    token_id: str
    secret: str  # the whole token: shown once, never stored
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    session: Session,
    creator: Identity,
    *,
    name: str,
    roles: frozenset[Role],
    owner: str | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> NewToken:
    """A token for `owner` (the creator by default: only an admin makes one for someone
    else) with `roles`, none of which the creator lacks. The caller commits."""
    owner = owner or creator.user
    if owner != creator.user and Role.ADMIN not in creator.roles:
        raise Forbidden("owner", "only an admin creates a token for someone else")
    beyond = sorted(r.value for r in roles - creator.roles)
    if beyond:
        raise Forbidden("roles", f"{creator.user} does not have {', '.join(beyond)} to give")
    if not roles:
        raise NightwatchError("roles", "a token needs at least one role")
    if not timedelta(minutes=1) <= lifetime <= LONGEST:
        raise NightwatchError("expires", f"between 1 minute and {LONGEST.days} days")
    if not name.strip() or len(name) > 200:
        raise NightwatchError("name", "1-200 characters: what the token is for")
    token_id = secrets.token_hex(6)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    expires_at = datetime.now(UTC) + lifetime
    session.add(
        ApiToken(
            token_id=token_id,
            name=name.strip(),
            owner=owner,
            roles=role_names(roles),
            groups=sorted(creator.groups) if owner == creator.user else [],
            secret_hash=_hash(secret),
            created_by=creator.proven_by,
            expires_at=expires_at,
        )
    )
    session.flush()
    return NewToken(token_id, secret, expires_at)


def authenticate(session: Session, presented: str) -> Identity:
    """The identity a presented token proves; Unauthenticated when it proves nothing."""
    match = _FORMAT.fullmatch(presented.strip())
    if match is None:
        raise Unauthenticated("token", NOT_VALID)
    row = session.scalar(select(ApiToken).where(ApiToken.token_id == match.group(1)))
    now = datetime.now(UTC)
    if (
        row is None
        or not hmac.compare_digest(row.secret_hash, _hash(presented.strip()))
        or row.revoked_at is not None
        or row.expires_at <= now
    ):
        raise Unauthenticated("token", NOT_VALID)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        session.commit()
    return Identity.stored(row.owner, row.roles, Proof.API_TOKEN, row.token_id, row.groups)


def revoke(session: Session, by: Identity, token_id: str) -> None:
    """Revoke a token (its owner or an admin); the caller commits."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_id == token_id))
    if row is None or (row.owner != by.user and Role.ADMIN not in by.roles):
        raise NotFound(token_id, "no such token of yours")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = datetime.now(UTC), by.proven_by


def listed(session: Session, by: Identity) -> list[ApiToken]:
    """The tokens `by` may see: its own, or every one for an admin (never a secret)."""
    query = select(ApiToken).order_by(ApiToken.id)
    if Role.ADMIN not in by.roles:
        query = query.where(ApiToken.owner == by.user)
    return list(session.scalars(query))
