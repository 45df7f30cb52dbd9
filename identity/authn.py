"""Proving who calls: an API token, a provider's token, or a browser session.

One `Authenticator` per service (the API, the intake) holds what checking needs: the
database, the OpenID provider with its cached keys, the session lifetimes. The FastAPI
side (`identity/guard.py`) reads the credential off a request and asks this.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from identity import sessions, tokens
from identity.model import Identity, parse_roles
from identity.oidc import OidcConfig, Provider
from identity.throttle import SignInThrottle
from nightwatch.config import Settings
from nightwatch.errors import SettingsError, Unauthenticated

NO_METHOD = (
    "no way to sign in is configured: set NIGHTWATCH_OIDC_ISSUER (the bank's provider) "
    "or NIGHTWATCH_LOCAL_ACCOUNTS=on"
)


@dataclass(frozen=True)
class AuthConfig:
    local_accounts: bool
    oidc: OidcConfig | None
    lifetimes: sessions.Lifetimes
    cookie_secure: bool

    @classmethod
    def of(cls, settings: Settings) -> AuthConfig:
        oidc = None
        if settings.oidc_issuer:
            assert settings.oidc_client_id and settings.oidc_redirect_uri  # settings checked
            oidc = OidcConfig(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret.get_secret_value(),
                redirect_uri=settings.oidc_redirect_uri,
                audience=settings.oidc_audience,
                scopes=settings.oidc_scopes,
                username_claim=settings.oidc_username_claim,
                groups_claim=settings.oidc_groups_claim,
                roles_by_group={
                    group: parse_roles(roles, path="NIGHTWATCH_OIDC_ROLES_BY_GROUP")
                    for group, roles in settings.roles_by_group().items()
                },
            )
        return cls(
            local_accounts=settings.uses_local_accounts,
            oidc=oidc,
            lifetimes=sessions.Lifetimes(
                idle=timedelta(minutes=settings.session_idle_minutes),
                absolute=timedelta(hours=settings.session_hours),
            ),
            cookie_secure=settings.cookie_secure,
        )

    def check_usable(self, settings: Settings) -> None:
        """A production service that nobody could sign in to refuses to start."""
        if settings.env == "production" and not (self.local_accounts or self.oidc):
            raise SettingsError("NIGHTWATCH_OIDC_ISSUER", NO_METHOD)


class Authenticator:
    """Checks credentials against one database and (optionally) one OpenID provider."""

    def __init__(self, config: AuthConfig, database: sessionmaker[Session]) -> None:
        self.config = config
        self.database = database
        self.provider = Provider(config.oidc) if config.oidc else None
        self.throttle = SignInThrottle()  # failed sign-ins per client address

    async def bearer(self, presented: str) -> Identity:
        """An `Authorization: Bearer` credential: our API token, or a token the provider
        signed for this service (verified against its keys, issuer, audience, expiry)."""
        if presented.startswith(tokens.PREFIX):
            return await asyncio.to_thread(self._token, presented)
        if self.provider is not None and presented.count(".") == 2:
            return await self.provider.identity(presented)
        raise Unauthenticated("Authorization", tokens.NOT_VALID)

    def _token(self, presented: str) -> Identity:
        with self.database() as session:
            return tokens.authenticate(session, presented)

    async def session(self, secret: str) -> sessions.Found:
        return await asyncio.to_thread(self._session, secret)

    def _session(self, secret: str) -> sessions.Found:
        with self.database() as session:
            return sessions.resolve(session, secret, self.config.lifetimes)

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()
