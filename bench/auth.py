"""What proving the caller costs a read: the same endpoint (`GET /api/v1/plans`) called
with an API token, a provider's signed token (keys cached), a session cookie, and with the
identity check replaced by a fixed identity (the unauthenticated baseline), interleaved in
one run over real HTTP and a real PostgreSQL. Target: p50 added latency <= 1 ms.

Run: `python -m bench.auth [--requests 2000]`; results go to bench/results/auth.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey

from api.app import create_app
from bench.support import fresh_database, postgres_server, write_report
from identity import accounts
from identity.guard import Admin, Approver, Operator, SignedIn, Viewer, ViewerReading
from identity.model import Identity, Proof, Role
from nightwatch.config import load_settings
from nightwatch.logs import configure_logging
from storage import migrate
from storage.db import session_factory
from tests.support import serve, token_for

ISSUER_PATH = "/issuer"
PASSWORD = "benchmark password 1"


def _provider(key: RSAKey) -> tuple[FastAPI, dict[str, str]]:
    app = FastAPI()
    where: dict[str, str] = {}

    @app.get(ISSUER_PATH + "/.well-known/openid-configuration")
    def discovery() -> dict[str, str]:
        return {
            "issuer": where["issuer"],
            "jwks_uri": where["issuer"] + "/jwks",
            "authorization_endpoint": where["issuer"] + "/auth",
            "token_endpoint": where["issuer"] + "/token",
        }

    @app.get(ISSUER_PATH + "/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False)]}

    return app, where


def _unauthenticated(app: FastAPI) -> FastAPI:
    """The same app with every identity check replaced by a fixed identity."""
    fixed = Identity(
        user="bench", roles=frozenset(Role), proof=Proof.LOCAL_ACCOUNT, proof_id="bench"
    )
    for kind in (SignedIn, Viewer, Operator, Approver, Admin, ViewerReading):
        dependency = kind.__metadata__[0].dependency  # type: ignore[attr-defined]
        app.dependency_overrides[dependency] = lambda: fixed
    return app


def measure(requests: int) -> str:
    configure_logging(load_settings(log_level="WARNING"))
    key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "alg": "RS256"})
    provider, where = _provider(key)
    with postgres_server() as server, fresh_database(server) as db, serve(provider) as idp:
        migrate.upgrade(db)
        where["issuer"] = idp + ISSUER_PATH
        settings = load_settings(
            database_url=db,
            cookie_secure=False,
            oidc_issuer=where["issuer"],
            oidc_client_id="nightwatch",
            oidc_redirect_uri="http://127.0.0.1/auth/oidc/callback",
            oidc_roles_by_group="ops=viewer",
            log_level="WARNING",
        )
        with session_factory(db)() as session:
            accounts.create(session, "bench", PASSWORD, frozenset({Role.VIEWER}), by="bench")
            session.commit()
        token = token_for(db, "bench", ["viewer"])
        claims = {
            "iss": where["issuer"],
            "aud": "nightwatch",
            "sub": "bench-subject",
            "preferred_username": "bench",
            "groups": ["ops"],
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
        }
        signed = jwt.encode({"alg": "RS256", "kid": "bench-1"}, claims, key)
        with (
            serve(create_app(settings)) as api,
            serve(_unauthenticated(create_app(settings))) as plain,
            httpx.Client(timeout=30) as http,
        ):
            login = http.post(f"{api}/auth/login", json={"username": "bench", "password": PASSWORD})
            cookie = login.headers["set-cookie"].split(";")[0]
            modes: dict[str, Callable[[], httpx.Response]] = {
                "no identity check (baseline)": lambda: http.get(f"{plain}/api/v1/plans"),
                "API token": lambda: http.get(
                    f"{api}/api/v1/plans", headers={"Authorization": f"Bearer {token}"}
                ),
                "provider's token (JWKS cached)": lambda: http.get(
                    f"{api}/api/v1/plans", headers={"Authorization": f"Bearer {signed}"}
                ),
                "session cookie": lambda: http.get(
                    f"{api}/api/v1/plans", headers={"Cookie": cookie}
                ),
            }
            samples = _interleaved(modes, requests)
    return _report(samples, requests)


def _interleaved(
    modes: dict[str, Callable[[], httpx.Response]], requests: int
) -> dict[str, list[float]]:
    """Each round calls every mode once, in a fresh random order (drift hits all alike)."""
    for call in modes.values():  # warm up: keys fetched, connections open, first use noted
        for _ in range(50):
            assert call().status_code == 200
    samples: dict[str, list[float]] = {name: [] for name in modes}
    order = list(modes)
    for _ in range(requests):
        random.shuffle(order)
        for name in order:
            started = time.perf_counter()
            response = modes[name]()
            samples[name].append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return samples


def _report(samples: dict[str, list[float]], requests: int) -> str:
    base = statistics.median(samples["no identity check (baseline)"])
    lines = [
        "# What proving the caller costs a read",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {requests} requests per "
        "way, interleaved; `GET /api/v1/plans` over HTTP, PostgreSQL 18 (embedded).",
        "",
        "| caller proven by | p50 ms | p90 ms | p50 added ms | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, values in samples.items():
        p50 = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        added = p50 - base
        target = (
            "" if name.startswith("no identity") else ("≤ 1 ms ✔" if added <= 0.001 else "≤ 1 ms ✘")
        )
        lines.append(
            f"| {name} | {p50 * 1000:.2f} | {p90 * 1000:.2f} | {added * 1000:+.2f} | {target} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    write_report("auth", measure(args.requests))


if __name__ == "__main__":
    main()
