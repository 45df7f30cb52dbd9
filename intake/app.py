"""The alert intake (FastAPI): webhooks in, risk events and self-recovery executions out.

The routes live in intake/webhooks.py (senders) and intake/events.py (people); what they
share is intake/state.py. Errors are the shared shape of nightwatch/web.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from identity.authn import AuthConfig, Authenticator
from intake import events, webhooks
from intake.state import Intake, IntakeError
from nightwatch import __version__, metrics, web
from nightwatch.config import Settings
from nightwatch.errors import NightwatchError
from risk.actions import RiskActionError
from storage.db import session_factory


def _with_webhook_schemas(app: FastAPI) -> None:
    """Add the webhook bodies (and the models they use) to the OpenAPI components."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = plain()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in webhooks.WEBHOOK_BODIES:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


async def _intake_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntakeError)
    return web.error_response(exc.status, exc.error, exc.path, exc.reason)


async def _risk_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RiskActionError)
    return web.error_response(exc.status, exc.error, exc.path, exc.reason)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NightwatchError)
    return web.domain_error_response(exc, web.kernel_status(exc))


async def _refused_value(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
    return web.error_response(
        422, "InvalidValue", "(body)", f"the database refused a value: {reason}"
    )


def create_app(settings: Settings) -> FastAPI:
    app = web.app(
        title="Nightwatch alert intake",
        version=__version__,
        description="Alert webhooks (Alertmanager v4, Grafana, generic Standard Webhooks) "
        "start self-recovery plans; every alert is a risk event. Errors are JSON "
        "`{error, path, reason}`.",
    )
    app.state.intake = Intake(settings)
    config = AuthConfig.of(settings)
    app.state.auth = Authenticator(config, session_factory(settings.effective_database_url))
    web.install(app, max_body_bytes=settings.alert_max_body_bytes)
    app.add_exception_handler(IntakeError, _intake_error)
    app.add_exception_handler(NightwatchError, _domain_error)
    app.add_exception_handler(RiskActionError, _risk_error)
    app.add_exception_handler(DataError, _refused_value)
    app.include_router(webhooks.router)
    app.include_router(events.router)

    metrics.install(app, settings)

    @app.middleware("http")
    async def count_refusals(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/alerts") and response.status_code >= 400:
            metrics.INTAKE_REFUSED.labels(str(response.status_code)).inc()
        return response

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _with_webhook_schemas(app)
    return app
