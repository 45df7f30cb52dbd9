"""OpenID Connect: the bank's provider proves who a person is.

Sign-in is the authorization code flow with PKCE (Authlib's OAuth 2 client); the ID token
it returns is verified here with joserfc (Authlib's JOSE library) against the provider's
published keys: signature, issuer, audience, expiry (30 s leeway) and the nonce of the
sign-in that asked for it. The keys (JWKS) are cached; a token signed with a key the cache
does not know makes one fresh fetch, at most every `REFETCH_EVERY`, so a key rotation at
the provider is followed without letting garbage tokens hammer it. Groups come from a
configurable claim and map to roles (`roles_by_group`).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from identity.model import Identity, Proof, Role
from nightwatch.errors import NightwatchError, Unauthenticated

with warnings.catch_warnings():
    # Authlib turns its deprecation warnings on for good when imported, then warns that it
    # prefers `httpx2` to httpx (ours): both stay inside this block.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY_SECONDS = 30
REFETCH_EVERY = 10.0  # seconds between JWKS fetches forced by an unknown key id
NOT_PROVEN = "the provider's token did not verify"


class ProviderUnavailable(NightwatchError):
    """The OpenID provider could not be reached or answered nonsense (HTTP 503)."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    audience: str | None = None  # the client id when not set
    scopes: str = "openid profile groups"
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    roles_by_group: dict[str, frozenset[Role]] = field(default_factory=dict)


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and what the callback must be checked against (kept in
    the signing-in browser's session, never in a URL)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class Provider:
    """One configured OpenID provider: discovery, keys, the code flow, token checks."""

    def __init__(
        self,
        config: OidcConfig,
        http: httpx.AsyncClient | None = None,
        *,
        refetch_every: float = REFETCH_EVERY,
    ) -> None:
        self.config = config
        self._refetch_every = refetch_every
        self._http = http or httpx.AsyncClient(timeout=10)
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != self.config.issuer:
                raise ProviderUnavailable(
                    "oidc.issuer",
                    f"the provider at {url} calls itself {document.get('issuer')!r}",
                )
            self._discovery = document
        return self._discovery

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable("oidc", f"{url}: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable("oidc", f"{url}: not a JSON object")
        return body

    async def _key_set(self, *, refresh: bool) -> KeySet:
        async with self._lock:
            stale = time.monotonic() - self._fetched_at >= self._refetch_every
            if self._keys is None or (refresh and stale):
                jwks = await self._get_json((await self.discovery())["jwks_uri"])
                try:
                    self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError) as exc:
                    raise ProviderUnavailable("oidc.jwks", type(exc).__name__) from None
                self._fetched_at = time.monotonic()
            return self._keys

    # -- the code flow -------------------------------------------------------------------

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.config.client_id,
            self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
        )

    async def start(self) -> SignInStart:
        verifier, nonce = generate_token(48), generate_token(24)
        endpoint = (await self.discovery())["authorization_endpoint"]
        url, state = self._client().create_authorization_url(
            endpoint, code_verifier=verifier, nonce=nonce
        )
        return SignInStart(url, state, nonce, verifier)

    async def finish(self, started: SignInStart, callback_url: str) -> Identity:
        """The identity the provider's answer to `started` proves (its code redeemed with
        the PKCE verifier, its ID token verified); Unauthenticated otherwise."""
        query = httpx.URL(callback_url).params
        if query.get("state") != started.state:
            raise Unauthenticated("sign-in", "the answer is not for this sign-in (state)")
        if "error" in query:
            raise Unauthenticated("sign-in", f"the provider refused: {query.get('error')}")
        client = self._client()
        try:
            token = await client.fetch_token(
                (await self.discovery())["token_endpoint"],
                authorization_response=callback_url,
                code_verifier=started.code_verifier,
                state=started.state,
            )
        except Exception as exc:  # Authlib raises its OAuth errors and httpx's alike
            raise Unauthenticated("sign-in", f"the code was not redeemed: {exc}") from None
        finally:
            await client.aclose()
        return await self.identity(str(token.get("id_token", "")), nonce=started.nonce)

    # -- checking tokens -------------------------------------------------------------------

    async def claims(
        self, token: str, *, nonce: str | None = None, now: int | None = None
    ) -> dict[str, Any]:
        """The verified claims of an ID token; Unauthenticated when it does not verify."""
        try:
            decoded = jwt.decode(token, await self._key_set(refresh=False), ALGORITHMS)
        except JoseError as exc:
            if not _unknown_key(exc):
                raise Unauthenticated("token", f"{NOT_PROVEN} ({exc.error})") from None
            try:  # a key the cache does not know: the provider may have rotated
                decoded = jwt.decode(token, await self._key_set(refresh=True), ALGORITHMS)
            except JoseError as again:
                raise Unauthenticated("token", f"{NOT_PROVEN} ({again.error})") from None
        expected: dict[str, Any] = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.audience or self.config.client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            expected["nonce"] = {"essential": True, "value": nonce}
        registry = JWTClaimsRegistry(now=now, leeway=LEEWAY_SECONDS, **expected)
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise Unauthenticated("token", f"{NOT_PROVEN} ({exc.error}: {exc})") from None
        return dict(decoded.claims)

    async def identity(
        self, token: str, *, nonce: str | None = None, now: int | None = None
    ) -> Identity:
        claims = await self.claims(token, nonce=nonce, now=now)
        return self.identity_of(claims)

    def identity_of(self, claims: dict[str, Any]) -> Identity:
        groups = claims.get(self.config.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        group_set = frozenset(str(g) for g in groups)
        roles = frozenset().union(
            *(self.config.roles_by_group.get(g, frozenset()) for g in group_set)
        )
        user = claims.get(self.config.username_claim) or claims["sub"]
        return Identity(
            user=str(user),
            roles=roles,
            groups=group_set,
            proof=Proof.OIDC,
            proof_id=f"{claims['iss']}#{claims['sub']}",
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _unknown_key(exc: JoseError) -> bool:
    return exc.error in ("invalid_key_id", "missing_key")
