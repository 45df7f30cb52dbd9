"""Every route of the API and the intake, enumerated from the apps: each names the role it
needs, refuses a call without credentials (401) and one whose roles are too small (403),
and writes nothing when it refuses. A new route without a check fails here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.app import create_app
from identity.model import Role
from intake.app import create_app as create_intake
from nightwatch.config import load_settings
from tests.support import bearer, digest, serve, token_for

# Routes anyone may call, and why.
PUBLIC = {
    ("GET", "/healthz"): "health checks",
    ("POST", "/auth/login"): "signing in",
    ("GET", "/auth/login"): "the sign-in page",
    ("POST", "/auth/login/form"): "the sign-in page's form",
    ("POST", "/auth/token"): "signing in (the CLI)",
    ("GET", "/auth/oidc/start"): "signing in (the provider)",
    ("GET", "/auth/oidc/callback"): "signing in (the provider's answer)",
    ("POST", "/auth/cli/start"): "the CLI asking to be signed in",
    ("POST", "/auth/cli/token"): "the CLI collecting its token (its secret proves it)",
    ("GET", "/auth/cli"): "the page sends whoever is not signed in to sign in",
    (
        "GET",
        "/metrics",
    ): "Prometheus: a metrics token of its own (tests/nightwatch/test_metrics.py)",
}
# The intake's webhooks authenticate senders with their own credentials (tests/intake).
SENDERS = re.compile(r"^/alerts/")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ROLES = [r.value for r in Role]


def _guard(route: APIRoute) -> tuple[bool, Role | None]:
    """Whether the route has an identity check, and the role it needs (None: any)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        call: Callable[..., Any] | None = dependency.call
        if call is not None and hasattr(call, "needs_role"):
            return True, call.needs_role
        pending.extend(dependency.dependencies)
    return False, None


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every documented route, from included routers too (their routes carry the routers'
    prefixes, and this app includes them without another)."""
    found, pending = [], list(app.routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 nests routers
        if included is not None:
            pending.extend(included.routes)
        elif isinstance(route, APIRoute) and route.include_in_schema:
            found += [(method, route.path, route) for method in sorted(route.methods or ())]
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert {(m, p) for m, p, _ in found} == documented, "routes and the OpenAPI document differ"
    return found


def _apps(db: str) -> dict[str, FastAPI]:
    settings = load_settings(database_url=db)
    return {"api": create_app(settings), "intake": create_intake(settings)}


def test_every_route_checks_who_calls(catalog_db: str) -> None:
    unguarded = [
        f"{name}: {method} {path}"
        for name, app in _apps(catalog_db).items()
        for method, path, route in _routes(app)
        if (method, path) not in PUBLIC
        and not (name == "intake" and SENDERS.match(path))
        and not _guard(route)[0]
    ]
    assert unguarded == [], "routes without an identity check:\n" + "\n".join(unguarded)


@pytest.mark.parametrize("service", ["api", "intake"])
def test_every_documented_operation_refuses_no_credentials(catalog_db: str, service: str) -> None:
    app = _apps(catalog_db)[service]
    answers = []
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for method, path, _ in _routes(app):
            if (method, path) in PUBLIC or (service == "intake" and SENDERS.match(path)):
                continue
            answer = http.request(method, _concrete(path), json={})
            answers.append((method, path, answer.status_code))
    assert len(answers) >= (25 if service == "api" else 4)
    assert [a for a in answers if a[2] != 401] == []


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize("service", ["api", "intake"])
def test_write_routes_refuse_no_credentials_and_too_small_roles(
    catalog_db: str, service: str
) -> None:
    app = _apps(catalog_db)[service]
    writes = [
        (method, path, _guard(route)[1])
        for method, path, route in _routes(app)
        if method in WRITES and _guard(route)[0]
    ]
    assert len(writes) >= (15 if service == "api" else 3), writes
    tokens = {role: token_for(catalog_db, f"only-{role}", [role]) for role in ROLES}
    failures: list[str] = []
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for token in tokens.values():  # a token's first use is recorded: not during the checks
            assert (
                http.get(
                    "/api/v1/risk-events" if service == "intake" else "/auth/me",
                    headers=bearer(token),
                ).status_code
                == 200
            )
        before = digest(catalog_db, ignore=())
        for method, path, role in writes:
            target = _concrete(path)
            anonymous = http.request(method, target, json={})
            if anonymous.status_code != 401 or anonymous.json().get("error") != "Unauthenticated":
                failures.append(f"{method} {path} without credentials: {anonymous.status_code}")
            forged = http.request(method, target, json={}, headers={"X-Nightwatch-User": "ciso"})
            if forged.status_code != 401:
                failures.append(f"{method} {path} with a forged user header: {forged.status_code}")
            garbage = http.request(method, target, json={}, headers=bearer("nwt_garbage"))
            if garbage.status_code != 401:
                failures.append(f"{method} {path} with a made-up token: {garbage.status_code}")
            if role is None or role == Role.VIEWER:
                continue  # every role may do it
            for other in ROLES:
                if other == role.value:
                    continue
                refused = http.request(method, target, json={}, headers=bearer(tokens[other]))
                if refused.status_code != 403:
                    failures.append(
                        f"{method} {path} as {other} (needs {role.value}): {refused.status_code}"
                    )
        after = digest(catalog_db, ignore=())
    assert failures == []
    assert after == before, "a refused call wrote to the database"


def test_the_roles_each_kind_of_action_needs(catalog_db: str) -> None:
    """Roles are duties: plans and rules need admin, decisions an approver, running an
    operator, reading any role."""
    needed = {
        (method, path): _guard(route)[1]
        for app in _apps(catalog_db).values()
        for method, path, route in _routes(app)
    }
    assert needed[("POST", "/api/v1/plans")] == Role.ADMIN
    assert needed[("DELETE", "/api/v1/plans/{plan_id}")] == Role.ADMIN
    assert needed[("PUT", "/api/v1/alert-rules/{name}")] == Role.ADMIN
    assert needed[("POST", "/api/v1/executions")] == Role.OPERATOR
    assert needed[("POST", "/api/v1/executions/{execution}/nodes/{node}/confirm")] == Role.APPROVER
    assert needed[("POST", "/api/v1/executions/{execution}/nodes/{node}/reject")] == Role.APPROVER
    assert needed[("POST", "/api/v1/executions/{execution}/nodes/{node}/fill")] == Role.OPERATOR
    assert needed[("POST", "/api/v1/risk-events/{event_id}/acknowledge")] == Role.OPERATOR
    assert needed[("GET", "/api/v1/executions")] == Role.VIEWER
    assert needed[("POST", "/codec/decode")] == Role.VIEWER
    assert needed[("POST", "/api/v1/accounts")] == Role.ADMIN
