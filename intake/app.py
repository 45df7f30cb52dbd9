"""The alert intake (FastAPI): webhooks in, risk events and self-recovery executions out.

Status codes follow what senders do with them: Alertmanager retries on 5xx and network
errors only, so 503 means "deliver again" (database or Temporal unreachable) and 4xx
means "this will never be valid" (bad JSON, missing fields, a body over the limit, an
alert a rule cannot map). 401 for anything unauthenticated, logged without its body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DataError, SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from executions.service import Executions
from intake import auth
from intake.payloads import (
    Alert,
    AlertmanagerPayload,
    GenericAlert,
    GrafanaPayload,
    Source,
    from_generic,
    from_prom,
)
from intake.rules import (
    AlertRejected,
    RuleDoc,
    RuleInUse,
    RuleInvalid,
    delete_rule,
    list_rules,
    save_rule,
)
from intake.service import Outcome, Routes, handle
from nightwatch import __version__, web
from nightwatch.config import Settings
from nightwatch.logs import get_logger
from nightwatch.temporal import connect
from storage.db import async_session_factory, session_factory
from storage.enums import RiskState
from storage.models import RiskEvent

log = get_logger("nightwatch.intake")


class IntakeError(Exception):
    def __init__(self, status: int, error: str, path: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.path, self.reason = status, error, path, reason


class Accepted(BaseModel):
    received: int
    outcomes: list[dict[str, Any]]


class RiskEventView(BaseModel):
    id: int
    source: str
    fingerprint: str
    alert_name: str | None
    severity: str | None
    state: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    deliveries: int
    plan_name: str | None
    execution_id: str | None
    outcome: str
    reason: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    first_received_at: datetime
    last_received_at: datetime


class Acknowledge(BaseModel):
    user: str = Field(min_length=1, max_length=200)


WEBHOOK_BODIES: tuple[type[BaseModel], ...] = (AlertmanagerPayload, GrafanaPayload, GenericAlert)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The documented body of a webhook route (read raw: the signature covers the bytes)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _with_webhook_schemas(app: FastAPI) -> None:
    """Add the webhook bodies (and the models they use) to the OpenAPI components."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = plain()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in WEBHOOK_BODIES:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings) -> FastAPI:
    app = web.app(
        title="Nightwatch alert intake",
        version=__version__,
        description="Alert webhooks (Alertmanager v4, Grafana, generic Standard Webhooks) "
        "start self-recovery plans; every alert is a risk event. Errors are JSON "
        "`{error, path, reason}`.",
    )
    url = settings.effective_database_url
    tokens = Settings.entries(settings.alert_tokens)
    basic = Settings.entries(settings.alert_basic_auth)
    grafana = Settings.entries(settings.alert_grafana_secrets)
    webhook = Settings.entries(settings.alert_webhook_secrets)
    limit = settings.alert_max_body_bytes
    # uvicorn refuses any connection without a certificate the client CA signed.
    client_certs = settings.intake_tls_client_ca is not None
    clients: dict[str, Client] = {}
    routes = Routes()

    web.install(app, max_body_bytes=limit)

    @app.exception_handler(IntakeError)
    async def intake_error(_: Request, exc: IntakeError) -> JSONResponse:
        return web.error_response(exc.status, exc.error, exc.path, exc.reason)

    @app.exception_handler(DataError)
    async def refused_value(_: Request, exc: DataError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return web.error_response(
            422, "InvalidValue", "(body)", f"the database refused a value: {reason}"
        )

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise IntakeError(413, "TooLarge", "(body)", f"body over the {limit} byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise IntakeError(413, "TooLarge", "(body)", f"body over the {limit} byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def refuse(request: Request, source: str, exc: auth.Unauthorized) -> IntakeError:
        client = request.client.host if request.client else "?"
        log.warning("alert refused", source=source, client=client, reason=str(exc))
        return IntakeError(401, "Unauthorized", "(credentials)", str(exc))

    def parse(body: bytes, model: type[BaseModel]) -> Any:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntakeError(400, "InvalidJSON", "(body)", f"not JSON: {exc}") from None
        except RecursionError:  # the nesting limit (nightwatch/web.py) comes first
            raise IntakeError(422, "InvalidJSON", "(body)", "JSON nested too deep") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(str(p) for p in error["loc"]) or "(body)"
            raise IntakeError(422, "InvalidAlert", path, error["msg"]) from None

    async def temporal() -> Client:
        if "client" not in clients:
            try:
                clients["client"] = await connect(settings)
            except Exception as exc:  # any failure to connect means "deliver again later"
                reason = f"cannot reach Temporal: {type(exc).__name__}"
                raise IntakeError(503, "TemporalUnavailable", "temporal", reason) from None
        return clients["client"]

    async def process(alerts: list[Alert]) -> Accepted:
        client = await temporal()
        outcomes: list[Outcome] = []
        try:
            async with async_session_factory(url)() as session:
                await routes.refresh(session)
                await session.commit()
                executions = Executions(client, settings.task_queue)
                for one in routes.route(alerts):
                    outcomes.append(await handle(session, executions, one, routes.limit))
                    await session.commit()
        except AlertRejected as exc:
            raise IntakeError(422, "AlertRejected", exc.path, exc.reason) from None
        except DataError as exc:
            # A value PostgreSQL can never store (a date out of range, say): never valid.
            reason = str(exc.orig).splitlines()[0] if exc.orig else "a value cannot be stored"
            raise IntakeError(422, "InvalidAlert", "alerts", reason) from None
        except (SQLAlchemyError, OSError) as exc:
            log.warning("alert not taken: database unavailable", error=type(exc).__name__)
            raise IntakeError(
                503, "DatabaseUnavailable", "database", "the database is unreachable; deliver again"
            ) from None
        except RPCError as exc:
            log.warning("alert not taken: Temporal unavailable", error=exc.message)
            clients.pop("client", None)
            reason = f"Temporal is unreachable; deliver again ({exc.message})"
            raise IntakeError(503, "TemporalUnavailable", "temporal", reason) from None
        return Accepted(received=len(alerts), outcomes=[o.as_dict() for o in outcomes])

    alerts_router = APIRouter(prefix="/alerts", tags=["alerts"])

    @alerts_router.post("/alertmanager", openapi_extra=_body_schema(AlertmanagerPayload))
    async def alertmanager(request: Request) -> Accepted:
        """Prometheus Alertmanager webhook (version 4); bearer token or basic auth."""
        try:
            auth.check_static(request.headers, tokens, basic, client_cert=client_certs)
        except auth.Unauthorized as exc:
            raise refuse(request, "alertmanager", exc) from None
        payload: AlertmanagerPayload = parse(await body_of(request), AlertmanagerPayload)
        return await process(from_prom("alertmanager", payload.alerts))

    @alerts_router.post("/grafana", openapi_extra=_body_schema(GrafanaPayload))
    async def grafana_alerts(request: Request) -> Accepted:
        """Grafana alerting webhook, signed with HMAC-SHA256."""
        body = await body_of(request)
        try:
            auth.check_grafana(
                request.headers,
                body,
                grafana,
                require_timestamp=settings.alert_grafana_require_timestamp,
            )
        except auth.Unauthorized as exc:
            raise refuse(request, "grafana", exc) from None
        payload: GrafanaPayload = parse(body, GrafanaPayload)
        return await process(from_prom("grafana", payload.alerts))

    @alerts_router.post("/generic", openapi_extra=_body_schema(GenericAlert))
    async def generic(request: Request) -> Accepted:
        """One generic alert, signed with Standard Webhooks (webhook-id: idempotency key)."""
        body = await body_of(request)
        try:
            message = auth.check_standard(request.headers, body, webhook)
        except auth.Unauthorized as exc:
            raise refuse(request, "generic", exc) from None
        alert: GenericAlert = parse(body, GenericAlert)
        return await process([from_generic(alert, message, datetime.now(UTC))])

    app.include_router(alerts_router)

    api = APIRouter(prefix="/api/v1", tags=["risk events and rules"])

    @api.get("/risk-events")
    def risk_events(
        state: Annotated[Literal["OPEN", "ACKNOWLEDGED", "RESOLVED"] | None, Query()] = None,
        source: Annotated[Source | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[RiskEventView]:
        """Risk events, newest first (the first feed of the risk dashboard)."""
        newest = (RiskEvent.last_received_at.desc(), RiskEvent.id.desc())
        query = select(RiskEvent).order_by(*newest)
        if state:
            query = query.where(RiskEvent.state == state)
        if source:
            query = query.where(RiskEvent.source == source)
        with session_factory(url)() as session:
            rows = session.scalars(query.limit(limit)).all()
            return [RiskEventView.model_validate(row, from_attributes=True) for row in rows]

    @api.post("/risk-events/{event_id}/acknowledge")
    def acknowledge(
        event_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)], body: Acknowledge
    ) -> RiskEventView:
        """A person takes the risk event on (an open event becomes ACKNOWLEDGED)."""
        with session_factory(url)() as session:
            row = session.get(RiskEvent, event_id)
            if row is None:
                raise IntakeError(404, "NotFound", "event_id", f"no risk event {event_id}")
            if row.state == RiskState.OPEN:
                row.state = RiskState.ACKNOWLEDGED
                row.acknowledged_by, row.acknowledged_at = body.user, datetime.now(UTC)
                session.commit()
            return RiskEventView.model_validate(row, from_attributes=True)

    @api.get("/alert-rules")
    def get_rules() -> list[RuleDoc]:
        """Routing rules in the order they are tried (priority, then name)."""
        with session_factory(url)() as session:
            return [rule for _, rule in list_rules(session)]

    @api.put("/alert-rules/{name}")
    def put_rule(name: str, rule: RuleDoc) -> dict[str, Any]:
        """Create or replace a rule (the plan must be a SELF_RECOVERY plan)."""
        if rule.name != name:
            raise IntakeError(
                422, "RuleInvalid", "name", f"the body names {rule.name!r}, the path {name!r}"
            )
        with session_factory(url)() as session:
            try:
                outcome, rule_id = save_rule(session, rule)
            except RuleInvalid as exc:
                raise IntakeError(422, "RuleInvalid", exc.path, exc.reason) from None
            session.commit()
        return {"outcome": outcome, "id": rule_id, "name": name}

    @api.delete("/alert-rules/{name}")
    def remove_rule(name: str) -> dict[str, Any]:
        """Delete a rule that never routed an alert (409 otherwise: disable it instead)."""
        with session_factory(url)() as session:
            try:
                if not delete_rule(session, name):
                    raise IntakeError(404, "NotFound", "name", f"no rule {name!r}")
            except RuleInUse as exc:
                raise IntakeError(409, "RuleInUse", exc.path, exc.reason) from None
            session.commit()
        return {"deleted": name}

    app.include_router(api)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _with_webhook_schemas(app)
    return app
