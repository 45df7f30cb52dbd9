"""A proven identity and the roles that decide what it may do.

Roles are separate duties, not a ladder: an operator starts, cancels and fills in; an
approver confirms and rejects risky steps; an admin manages plans, rules, tokens and
accounts. Every role may read; no role, nothing. Nobody is an approver by being an admin:
a bank separates who changes the rules from who approves a change in production.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from nightwatch.errors import Forbidden, NightwatchError


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


class Proof(StrEnum):
    """How an identity was proven (recorded with every decision it makes)."""

    LOCAL_ACCOUNT = "local-account"  # username and password, checked here
    API_TOKEN = "api-token"  # a token created here, by an admin or its owner
    OIDC = "oidc"  # the bank's OpenID provider


def parse_roles(values: list[str] | tuple[str, ...] | set[str], *, path: str) -> frozenset[Role]:
    """Role names as given (a file, a flag, a token request), refused when one is unknown."""
    roles: set[Role] = set()
    for value in values:
        try:
            roles.add(Role(value.strip().lower()))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise UnknownRole(path, f"unknown role {value!r} (roles: {known})") from None
    return frozenset(roles)


def role_names(roles: frozenset[Role]) -> list[str]:
    """Roles as a row keeps them (`Identity.stored` reads them back)."""
    return sorted(r.value for r in roles)


class UnknownRole(NightwatchError):
    """A role name that is none of Role's (HTTP 400)."""


class Identity(BaseModel):
    """Someone proven: the name recorded for audit, roles, provider groups, and the proof."""

    model_config = ConfigDict(frozen=True)

    user: str
    roles: frozenset[Role]
    groups: frozenset[str] = frozenset()
    proof: Proof
    proof_id: str  # the account's username, the token's id, or the provider's issuer#subject

    @classmethod
    def stored(
        cls,
        user: str,
        roles: list[str],
        proof: Proof,
        proof_id: str,
        groups: list[str] | None = None,
    ) -> Identity:
        """An identity from a row that keeps its roles as names (an account, a token)."""
        return cls(
            user=user,
            roles=frozenset(Role(r) for r in roles),
            groups=frozenset(groups or []),
            proof=proof,
            proof_id=proof_id,
        )

    def has(self, role: Role) -> bool:
        """Every role may read; someone proven but given no role (a provider group that maps
        to none) may do nothing, reading included."""
        return role in self.roles or (role == Role.VIEWER and bool(self.roles))

    def require(self, role: Role, doing: str) -> None:
        """Forbidden (403), naming the role `doing` needs, unless this identity has it."""
        if not self.has(role):
            raise Forbidden(
                doing, f"needs the {role.value} role; {self.user} has {self.shown_roles}"
            )

    @property
    def shown_roles(self) -> str:
        return ", ".join(sorted(r.value for r in self.roles)) or "no role"

    @property
    def proven_by(self) -> str:
        """`local-account li.wei`, `api-token tok_1a2b…`, `oidc https://idp#8f3…`."""
        return f"{self.proof.value} {self.proof_id}"
