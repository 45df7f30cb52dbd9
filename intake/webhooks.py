"""The webhook routes: Alertmanager, Grafana and the generic (Standard Webhooks) source.
Each authenticates its sender as the sender can, then hands the alerts to the intake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from intake import auth
from intake.payloads import (
    AlertmanagerPayload,
    GenericAlert,
    GrafanaPayload,
    from_generic,
    from_prom,
)
from intake.state import Accepted, Intake, intake_of

IntakeDep = Annotated[Intake, Depends(intake_of)]
WEBHOOK_BODIES: tuple[type[BaseModel], ...] = (AlertmanagerPayload, GrafanaPayload, GenericAlert)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The documented body of a webhook route (read raw: the signature covers the bytes)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.post("/alertmanager", openapi_extra=_body_schema(AlertmanagerPayload))
async def alertmanager(request: Request, intake: IntakeDep) -> Accepted:
    """Prometheus Alertmanager webhook (version 4); bearer token or basic auth."""
    try:
        auth.check_static(
            request.headers, intake.tokens, intake.basic, client_cert=intake.client_certs
        )
    except auth.Unauthorized as exc:
        raise intake.refuse(request, "alertmanager", exc) from None
    payload: AlertmanagerPayload = intake.parse(await intake.body_of(request), AlertmanagerPayload)
    return await intake.process(from_prom("alertmanager", payload.alerts))


@router.post("/grafana", openapi_extra=_body_schema(GrafanaPayload))
async def grafana_alerts(request: Request, intake: IntakeDep) -> Accepted:
    """Grafana alerting webhook, signed with HMAC-SHA256."""
    body = await intake.body_of(request)
    try:
        auth.check_grafana(
            request.headers,
            body,
            intake.grafana,
            require_timestamp=intake.settings.alert_grafana_require_timestamp,
        )
    except auth.Unauthorized as exc:
        raise intake.refuse(request, "grafana", exc) from None
    payload: GrafanaPayload = intake.parse(body, GrafanaPayload)
    return await intake.process(from_prom("grafana", payload.alerts))


@router.post("/generic", openapi_extra=_body_schema(GenericAlert))
async def generic(request: Request, intake: IntakeDep) -> Accepted:
    """One generic alert, signed with Standard Webhooks (webhook-id: idempotency key)."""
    body = await intake.body_of(request)
    try:
        message = auth.check_standard(request.headers, body, intake.webhook)
    except auth.Unauthorized as exc:
        raise intake.refuse(request, "generic", exc) from None
    alert: GenericAlert = intake.parse(body, GenericAlert)
    return await intake.process([from_generic(alert, message, datetime.now(UTC))])
