"""Roles are separate duties; every role reads; no role does nothing."""

from __future__ import annotations

import pytest

from identity.model import Identity, Proof, Role, UnknownRole, parse_roles
from nightwatch.errors import Forbidden


def _who(*roles: Role) -> Identity:
    return Identity(user="li.wei", roles=frozenset(roles), proof=Proof.OIDC, proof_id="idp#1")


def test_roles_are_duties_not_a_ladder() -> None:
    admin = _who(Role.ADMIN)
    assert admin.has(Role.VIEWER) and admin.has(Role.ADMIN)
    assert not admin.has(Role.APPROVER) and not admin.has(Role.OPERATOR)
    with pytest.raises(Forbidden, match=r"confirm: needs the approver role; li\.wei has admin"):
        admin.require(Role.APPROVER, "confirm")


def test_someone_proven_with_no_role_may_not_even_read() -> None:
    nobody = _who()
    with pytest.raises(Forbidden, match=r"needs the viewer role; li\.wei has no role"):
        nobody.require(Role.VIEWER, "list executions")


def test_role_names_are_checked_and_named() -> None:
    assert parse_roles(["Operator", " approver "], path="roles") == {Role.OPERATOR, Role.APPROVER}
    with pytest.raises(UnknownRole, match=r"roles: unknown role 'root'"):
        parse_roles(["root"], path="roles")
