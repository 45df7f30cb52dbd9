"""Local accounts: argon2id hashes, one answer for wrong and unknown, locking that slows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from identity import accounts
from identity.model import Proof, Role
from nightwatch.errors import Conflict, Unauthenticated
from storage.db import session_factory
from storage.models import Account

PASSWORD = "correct horse battery"


def _make(db: str, username: str = "li.wei", roles: frozenset[Role] | None = None) -> None:
    with session_factory(db)() as session:
        accounts.create(session, username, PASSWORD, roles or frozenset({Role.OPERATOR}), by="test")
        session.commit()


def test_a_password_is_kept_as_an_argon2id_hash_and_proves_the_account(db_url: str) -> None:
    _make(db_url)
    with session_factory(db_url)() as session:
        stored = session.scalar(select(Account.password_hash).where(Account.username == "li.wei"))
        assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
        identity = accounts.sign_in(session, "li.wei", PASSWORD)
    assert (identity.user, identity.roles, identity.proof, identity.proof_id) == (
        "li.wei",
        frozenset({Role.OPERATOR}),
        Proof.LOCAL_ACCOUNT,
        "li.wei",
    )
    assert identity.proven_by == "local-account li.wei"


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(db_url: str) -> None:
    _make(db_url)
    reasons = []
    with session_factory(db_url)() as session:
        for username, password in (("li.wei", "not the password"), ("nobody", PASSWORD)):
            with pytest.raises(Unauthenticated) as refused:
                accounts.sign_in(session, username, password)
            reasons.append(refused.value.reason)
    assert reasons == [accounts.WRONG, accounts.WRONG]


def test_repeated_failures_lock_the_account_even_against_the_right_password(db_url: str) -> None:
    _make(db_url)
    with session_factory(db_url)() as session:
        for _ in range(accounts.LOCK_AFTER):
            with pytest.raises(Unauthenticated):
                accounts.sign_in(session, "li.wei", "a wrong guess here")
        with pytest.raises(Unauthenticated, match="too many failed sign-ins: try again after"):
            accounts.sign_in(session, "li.wei", PASSWORD)
        account = session.scalar(select(Account).where(Account.username == "li.wei"))
        assert account is not None and account.locked_until is not None
        first_lock = account.locked_until - datetime.now(UTC)
        assert timedelta(0) < first_lock <= accounts.FIRST_LOCK
        # The lock runs out (moved into the past here): the right password works again
        # and the count starts over.
        session.execute(
            update(Account)
            .where(Account.username == "li.wei")
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        assert accounts.sign_in(session, "li.wei", PASSWORD).user == "li.wei"
        session.expire_all()
        account = session.scalar(select(Account).where(Account.username == "li.wei"))
        assert account is not None
        assert (account.failed_sign_ins, account.locked_until) == (0, None)
        assert account.last_sign_in_at is not None


def test_each_lock_after_the_first_lasts_twice_as_long(db_url: str) -> None:
    _make(db_url)
    with session_factory(db_url)() as session:
        session.execute(
            update(Account)
            .where(Account.username == "li.wei")
            .values(failed_sign_ins=accounts.LOCK_AFTER + 1)
        )
        session.commit()
        with pytest.raises(Unauthenticated):
            accounts.sign_in(session, "li.wei", "a wrong guess here")
        session.expire_all()
        account = session.scalar(select(Account).where(Account.username == "li.wei"))
        assert account is not None and account.locked_until is not None
        lock = account.locked_until - datetime.now(UTC)
        assert accounts.FIRST_LOCK * 2 < lock <= accounts.FIRST_LOCK * 4


def test_bad_new_accounts_are_refused_naming_the_field(db_url: str) -> None:
    _make(db_url)
    with session_factory(db_url)() as session:
        with pytest.raises(accounts.BadPassword, match="password: at least 12 characters"):
            accounts.create(session, "short", "too short", frozenset({Role.VIEWER}), by="t")
        with pytest.raises(Conflict, match=r"username: 'li\.wei' exists already"):
            accounts.create(session, "li.wei", PASSWORD, frozenset({Role.VIEWER}), by="t")
        session.rollback()
        assert session.scalar(select(Account.id).where(Account.username == "short")) is None


def test_a_disabled_account_cannot_sign_in(db_url: str) -> None:
    _make(db_url)
    with session_factory(db_url)() as session:
        accounts.disable(session, "li.wei")
        session.commit()
        with pytest.raises(Unauthenticated, match=accounts.WRONG):
            accounts.sign_in(session, "li.wei", PASSWORD)
