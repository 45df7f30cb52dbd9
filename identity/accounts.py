"""Local accounts: the embedded default's sign-in (`nightwatch up`), no provider needed.

Passwords are hashed with argon2id (argon2-cffi, RFC 9106's low-memory profile) and
re-hashed on sign-in when the parameters change. Repeated failures lock the account for
a while, doubling each time (`LOCK_AFTER`, `FIRST_LOCK`, `LONGEST_LOCK`); a sign-in to an
unknown user costs the same hash and gets the same answer as a wrong password, so the
answer tells nobody which usernames exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.model import Identity, Proof, Role, role_names
from nightwatch.errors import Conflict, NightwatchError, NotFound, Unauthenticated
from storage.models import Account

HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
MIN_PASSWORD = 12
LOCK_AFTER = 5  # failed sign-ins in a row before the account locks
FIRST_LOCK, LONGEST_LOCK = timedelta(seconds=30), timedelta(minutes=30)
WRONG = "wrong username or password"
# Verified against when the username is unknown, so that costs the same as a wrong password.
_NOBODY = HASHER.hash("no such account: this hash only spends the time a real check does")


class BadPassword(NightwatchError):
    """A new password that is not acceptable (HTTP 400)."""


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadPassword("password", f"at least {MIN_PASSWORD} characters")
    if password.strip().lower() == username.strip().lower():
        raise BadPassword("password", "must not be the username")


def create(
    session: Session,
    username: str,
    password: str,
    roles: frozenset[Role],
    *,
    by: str | None,
    display_name: str | None = None,
    groups: list[str] | None = None,
) -> Account:
    """A new local account (the caller commits); Conflict when the username is taken."""
    name = username.strip()
    if not name or len(name) > 128 or any(c.isspace() for c in name):
        raise NightwatchError("username", "1-128 characters, no spaces")
    check_password(password, name)
    if session.scalar(select(Account.id).where(Account.username == name)) is not None:
        raise Conflict("username", f"{name!r} exists already")
    account = Account(
        username=name,
        display_name=display_name,
        password_hash=HASHER.hash(password),
        roles=role_names(roles),
        groups=_groups(groups or []),
        created_by=by,
    )
    session.add(account)
    session.flush()
    return account


def sign_in(session: Session, username: str, password: str) -> Identity:
    """The account's identity if the password is right; Unauthenticated otherwise, with one
    reason for a wrong password and an unknown user alike (a locked account says until
    when). Commits either way: a failure is counted, a success clears the count."""
    now = datetime.now(UTC)
    account = session.scalar(
        select(Account).where(Account.username == username.strip()).with_for_update()
    )
    if account is None or account.disabled_at is not None:
        session.rollback()
        _verify(_NOBODY, password)
        raise Unauthenticated("sign-in", WRONG)
    if account.locked_until is not None and account.locked_until > now:
        # Not even checked: a locked account cannot be guessed at while it is locked.
        until = account.locked_until
        session.rollback()
        raise Unauthenticated(
            "sign-in", f"too many failed sign-ins: try again after {until:%H:%M:%S} UTC"
        )
    if not _verify(account.password_hash, password):
        account.failed_sign_ins += 1
        over = account.failed_sign_ins - LOCK_AFTER
        if over >= 0:
            account.locked_until = now + min(FIRST_LOCK * 2**over, LONGEST_LOCK)
        session.commit()
        raise Unauthenticated("sign-in", WRONG)
    account.failed_sign_ins, account.locked_until, account.last_sign_in_at = 0, None, now
    if HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = HASHER.hash(password)
    identity = identity_of(account)
    session.commit()
    return identity


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _groups(groups: list[str]) -> list[str]:
    cleaned = sorted({g.strip() for g in groups})
    for group in cleaned:
        if not group or len(group) > 128 or any(c.isspace() or c == "," for c in group):
            raise NightwatchError("groups", f"{group!r}: 1-128 characters, no spaces or commas")
    return cleaned


def identity_of(account: Account) -> Identity:
    return Identity.stored(
        account.username, account.roles, Proof.LOCAL_ACCOUNT, account.username, account.groups
    )


def listed(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.username)))


def get(session: Session, username: str) -> Account:
    return _get(session, username)


def set_password(session: Session, username: str, password: str) -> None:
    """A new password (and the lock lifted); the caller commits."""
    account = _get(session, username)
    check_password(password, account.username)
    account.password_hash = HASHER.hash(password)
    account.failed_sign_ins, account.locked_until = 0, None


def disable(session: Session, username: str) -> None:
    account = _get(session, username)
    account.disabled_at = account.disabled_at or datetime.now(UTC)


def _get(session: Session, username: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username.strip()))
    if account is None:
        raise NotFound(username, "no such account")
    return account
