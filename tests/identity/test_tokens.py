"""API tokens: shown once, kept hashed, never more than the creator, expiry and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from identity import tokens
from identity.model import Identity, Proof, Role
from nightwatch.errors import Forbidden, Unauthenticated
from storage.db import session_factory
from storage.models import ApiToken

OPERATOR = Identity(
    user="li.wei", roles=frozenset({Role.OPERATOR}), proof=Proof.OIDC, proof_id="idp#1"
)
ADMIN = Identity(
    user="root", roles=frozenset({Role.ADMIN, Role.OPERATOR}), proof=Proof.OIDC, proof_id="idp#2"
)


def _new(db: str, creator: Identity = OPERATOR, **kwargs: object) -> tokens.NewToken:
    with session_factory(db)() as session:
        made = tokens.create(
            session,
            creator,
            name=str(kwargs.pop("name", "ci deploys")),
            roles=kwargs.pop("roles", frozenset({Role.OPERATOR})),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )
        session.commit()
    return made


def test_a_token_proves_its_owner_with_its_roles_and_is_stored_only_as_a_hash(
    db_url: str,
) -> None:
    made = _new(db_url)
    with session_factory(db_url)() as session:
        identity = tokens.authenticate(session, made.secret)
        row = session.scalar(select(ApiToken).where(ApiToken.token_id == made.token_id))
        dump = session.execute(text("select api_token::text from api_token")).scalars().all()
    assert (identity.user, identity.roles, identity.proof, identity.proof_id) == (
        "li.wei",
        frozenset({Role.OPERATOR}),
        Proof.API_TOKEN,
        made.token_id,
    )
    assert row is not None and row.last_used_at is not None
    assert row.created_by == "oidc idp#1"
    secret_part = made.secret.rsplit("_", 1)[1]
    assert not any(secret_part in line for line in dump)


def test_no_token_gives_more_than_its_creator_has(db_url: str) -> None:
    with session_factory(db_url)() as session:
        with pytest.raises(Forbidden, match=r"roles: li\.wei does not have approver to give"):
            tokens.create(session, OPERATOR, name="x", roles=frozenset({Role.APPROVER}))
        with pytest.raises(Forbidden, match="owner: only an admin"):
            tokens.create(
                session, OPERATOR, name="x", roles=frozenset({Role.OPERATOR}), owner="root"
            )
        made = tokens.create(
            session, ADMIN, name="for li", roles=frozenset({Role.OPERATOR}), owner="li.wei"
        )
        session.commit()
        assert tokens.authenticate(session, made.secret).user == "li.wei"


def test_revoked_expired_altered_and_malformed_tokens_prove_nothing(db_url: str) -> None:
    revoked, expired, altered = _new(db_url), _new(db_url), _new(db_url)
    with session_factory(db_url)() as session:
        tokens.revoke(session, OPERATOR, revoked.token_id)
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_id == expired.token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        last = altered.secret[-1]
        tampered = altered.secret[:-1] + ("A" if last != "A" else "B")
        for presented in (revoked.secret, expired.secret, tampered, "nwt_short", ""):
            with pytest.raises(Unauthenticated) as refused:
                tokens.authenticate(session, presented)
            assert refused.value.reason == tokens.NOT_VALID
        assert tokens.authenticate(session, altered.secret).user == "li.wei"


def test_only_its_owner_or_an_admin_revokes_a_token(db_url: str) -> None:
    made = _new(db_url, ADMIN, name="root's", roles=frozenset({Role.ADMIN}))
    with session_factory(db_url)() as session:
        with pytest.raises(Exception, match="no such token of yours"):
            tokens.revoke(session, OPERATOR, made.token_id)
        assert [t.token_id for t in tokens.listed(session, OPERATOR)] == []
        assert [t.token_id for t in tokens.listed(session, ADMIN)] == [made.token_id]


def test_a_lifetime_beyond_a_year_is_refused(db_url: str) -> None:
    with session_factory(db_url)() as session, pytest.raises(Exception, match="expires"):
        tokens.create(
            session,
            OPERATOR,
            name="forever",
            roles=frozenset({Role.OPERATOR}),
            lifetime=timedelta(days=400),
        )
