"""The Nightwatch API application; `nightwatch api` and the local stack serve it with uvicorn.

Plans and the catalog (api/routes.py), executions and the inbox (api/executions.py),
sign-in, tokens and accounts (api/auth.py), the Web UI's codec endpoint (api/codec.py).
Every route but sign-in and health needs an authenticated caller with the right role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import SecretStr

from api import auth, codec, errors, executions, inspections, risk
from api.deps import TemporalLink
from api.routes import router
from console import web as console
from executions.inbox import waiting
from identity.authn import AuthConfig, Authenticator
from nightwatch import __version__, metrics, web
from nightwatch.config import Settings
from risk.actions import RiskActionError
from storage.db import session_factory


def waiting_metrics(database_url: str) -> bytes:
    """Steps waiting for a person, read at scrape time: how many, and the oldest's age, by
    plan and what they wait for (an alert rule fires on executions waiting too long)."""
    registry = CollectorRegistry()
    labels = ["plan", "waits_for"]
    count = Gauge(
        "nightwatch_waiting_for_person", "Steps waiting for a person", labels, registry=registry
    )
    oldest = Gauge(
        "nightwatch_waiting_for_person_oldest_seconds",
        "How long the oldest step has waited for a person",
        labels,
        registry=registry,
    )
    with session_factory(database_url)() as session:
        items = waiting(session)
    overdue = Gauge(
        "nightwatch_waiting_for_person_overdue",
        "Steps waiting for a person past their timeoutSeconds (the execution should have "
        "moved on: a worker is missing or stuck)",
        labels,
        registry=registry,
    )
    now = datetime.now(UTC)
    ages: dict[tuple[str, str], float] = {}
    for item in items:
        key = (item.plan, item.waits_for)
        count.labels(*key).inc()
        age = (now - item.since).total_seconds()
        ages[key] = max(ages.get(key, 0.0), age)
        late = item.timeout_seconds is not None and age > item.timeout_seconds
        overdue.labels(*key).inc(1 if late else 0)
    for key, age in ages.items():
        oldest.labels(*key).set(age)
    return generate_latest(registry)


def create_app(settings: Settings) -> FastAPI:
    config = AuthConfig.of(settings)
    config.check_usable(settings)  # a production API nobody can sign in to does not start
    authenticator = Authenticator(config, session_factory(settings.effective_database_url))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await authenticator.aclose()

    app = web.app(
        title="Nightwatch API",
        version=__version__,
        lifespan=lifespan,
        description="Plans, the action catalog, executions and the inbox, sign-in and tokens. "
        "Every call but sign-in needs `Authorization: Bearer <token>` or the session cookie "
        "(with `X-CSRF-Token` on writes). Errors are JSON "
        "`{error, path, reason, problems: [{path, reason}]}` with the paths the CLI prints.",
    )
    app.state.database_url = settings.effective_database_url
    app.state.settings = settings
    app.state.auth = authenticator
    app.state.temporal = TemporalLink(settings)
    errors.install(app)
    web.install(app)
    app.add_exception_handler(RiskActionError, risk.risk_error)
    routers = (
        auth.router,
        router,
        executions.router,
        inspections.router,
        risk.router,
        codec.router,
    )
    for routes in routers:
        app.include_router(routes, responses=errors.AUTH_ERRORS)
    origins = settings.entries(SecretStr(settings.codec_cors_origins))
    if origins:  # the Web UI calls the codec endpoint from the browser
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
            allow_credentials=True,
        )

    console.install(app)
    metrics.install(app, settings, lambda: waiting_metrics(settings.effective_database_url))

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
