"""OpenID Connect against a real provider: the code flow with PKCE, tokens checked for
signature, issuer, audience, expiry and nonce, and a key rotation followed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from identity.model import Proof, Role
from identity.oidc import Provider
from nightwatch.errors import Unauthenticated
from tests.identity.oidc_server import INSTALLED, NODE, OidcServer

pytestmark = pytest.mark.skipif(
    NODE is None or not INSTALLED,
    reason="needs Node.js and tests/oidc/node_modules (`make test` installs it with npm ci)"
    if NODE is None
    else "tests/oidc/node_modules missing: run `make test` (npm ci --prefix tests/oidc)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    running = OidcServer(tmp_path_factory.mktemp("oidc"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def provider(server: OidcServer) -> AsyncIterator[Provider]:
    made = Provider(server.config())
    yield made
    await made.aclose()


async def test_the_code_flow_with_pkce_proves_each_user_with_the_roles_of_their_groups(
    server: OidcServer, provider: Provider
) -> None:
    for user, group, role in (
        ("alice", "ops-approvers", Role.APPROVER),
        ("bob", "ops-operators", Role.OPERATOR),
    ):
        started, callback = await server.sign_in(provider, user)
        assert "code_challenge=" in started.url and "code_challenge_method=S256" in started.url
        identity = await provider.finish(started, callback)
        assert (identity.user, identity.groups, identity.roles, identity.proof) == (
            user,
            frozenset({group}),
            frozenset({role}),
            Proof.OIDC,
        )
        assert identity.proof_id.startswith(f"{server.issuer}#")


async def test_an_answer_for_another_sign_in_is_refused(
    server: OidcServer, provider: Provider
) -> None:
    _, callback = await server.sign_in(provider, "alice")
    other = await provider.start()
    with pytest.raises(Unauthenticated, match="not for this sign-in"):
        await provider.finish(other, callback)


async def _id_token(server: OidcServer, provider: Provider, user: str = "alice") -> tuple[str, str]:
    """An ID token from a real sign-in, and the nonce it was issued for."""
    started, callback = await server.sign_in(provider, user)
    client = provider._client()
    token = await client.fetch_token(
        (await provider.discovery())["token_endpoint"],
        authorization_response=callback,
        code_verifier=started.code_verifier,
        state=started.state,
    )
    await client.aclose()
    return str(token["id_token"]), started.nonce


async def test_a_bad_signature_wrong_audience_wrong_nonce_or_expiry_is_refused(
    server: OidcServer, provider: Provider
) -> None:
    token, nonce = await _id_token(server, provider)
    claims = await provider.claims(token, nonce=nonce)
    assert claims["iss"] == server.issuer and claims["aud"] == "nightwatch"
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(f"{header}.{payload}.{flipped}")
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(token, nonce="another sign-in's nonce")
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(token, now=int(claims["exp"]) + 3600)
    # A token the same provider issued to another application is not for Nightwatch.
    other = Provider(server.config("other-app"))
    other_token, _ = await _id_token(server, other)
    await other.aclose()
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(other_token)


async def test_a_token_from_another_issuer_is_refused(
    server: OidcServer, provider: Provider, tmp_path: Path
) -> None:
    elsewhere = OidcServer(tmp_path)
    elsewhere.start()
    try:
        stranger = Provider(elsewhere.config())
        token, _ = await _id_token(elsewhere, stranger)
        await stranger.aclose()
    finally:
        elsewhere.stop()
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(token)


async def test_a_key_rotation_at_the_provider_is_followed(server: OidcServer) -> None:
    provider = Provider(server.config(), refetch_every=0)
    before, _ = await _id_token(server, provider)
    assert (await provider.claims(before))["sub"]
    server.rotate()
    after, _ = await _id_token(server, provider)
    # Signed with a key the cache has never seen: one fresh fetch of the JWKS finds it.
    assert (await provider.claims(after))["sub"]
    # The old key is gone from the provider's set, and so from the refreshed cache.
    with pytest.raises(Unauthenticated, match="did not verify"):
        await provider.claims(before)
    await provider.aclose()


async def test_unknown_keys_fetch_the_providers_keys_at_most_once_a_while(
    server: OidcServer,
) -> None:
    provider = Provider(server.config(), refetch_every=3600)
    token, _ = await _id_token(server, provider)
    assert (await provider.claims(token))["sub"]
    fetched = provider._fetched_at
    server.rotate()
    rotated, _ = await _id_token(server, provider)
    # Within the interval the cache is not refetched: garbage tokens with made-up key ids
    # cannot make the API hammer the provider (a real rotation publishes keys ahead).
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="invalid_key_id"):
            await provider.claims(rotated)
    assert provider._fetched_at == fetched
    await provider.aclose()
