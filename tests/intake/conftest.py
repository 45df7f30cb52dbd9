"""The alert intake served over real HTTP, in front of a real worker and database."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.service import RPCError

from intake.app import create_app
from intake.auth import sign_standard
from intake.rules import RuleDoc, save_rule
from nightwatch.config import load_settings
from storage.db import session_factory
from storage.models import RiskEvent
from tests.support import TcpProxy, serve
from tests.workflows.conftest import Engine, dev_engine, engine

__all__ = ["dev_engine", "engine"]

TOKENS = "first-token,rotated-token"
GRAFANA_SECRET = "grafana-secret"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"generic-webhook-secret-bytes").decode()


@dataclass
class Intake:
    url: str
    engine: Engine
    proxy: TcpProxy
    # The Temporal server outlives each test's database (rule ids start at 1 again): this
    # run's alerts carry their own fingerprints so its workflow ids are its own.
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def _own(self, payload: Any) -> Any:
        for alert in payload.get("alerts", []) if isinstance(payload, dict) else []:
            if alert.get("fingerprint"):
                alert["fingerprint"] = f"{alert['fingerprint']}-{self.run}"
        return payload

    @property
    def db(self) -> str:
        return self.engine.db

    def rule(self, plan: str, **fields: Any) -> None:
        doc = RuleDoc.model_validate(
            {
                "name": f"rule {plan}",
                "plan": plan,
                "match": [{"label": "alertname", "value": "PodsDown"}],
                **fields,
            }
        )
        with session_factory(self.db)() as session:
            save_rule(session, doc)
            session.commit()

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(self._own(body)).encode()
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            return await http.post(
                path,
                content=content,
                headers={"content-type": "application/json", **(headers or {})},
            )

    async def alertmanager(
        self, payload: dict[str, Any], token: str = "first-token"
    ) -> httpx.Response:
        return await self.post(
            "/alerts/alertmanager", payload, {"authorization": f"Bearer {token}"}
        )

    async def grafana(
        self,
        payload: dict[str, Any],
        *,
        stamp: bool = True,
        secret: str = GRAFANA_SECRET,
        at: int | None = None,
    ) -> httpx.Response:
        body = json.dumps(self._own(payload)).encode()
        headers = {}
        signed = body
        if stamp:
            timestamp = str(at if at is not None else int(time.time()))
            headers["X-Grafana-Alerting-Signature-Timestamp"] = timestamp
            signed = timestamp.encode() + b":" + body
        headers["X-Grafana-Alerting-Signature"] = hmac.new(
            secret.encode(), signed, hashlib.sha256
        ).hexdigest()
        return await self.post("/alerts/grafana", None, headers, raw=body)

    async def generic(
        self,
        alert: dict[str, Any],
        *,
        message: str | None = None,
        at: int | None = None,
        secret: str = WEBHOOK_SECRET,
    ) -> httpx.Response:
        body = json.dumps(alert).encode()
        message = f"{message or 'msg_' + uuid.uuid4().hex}-{self.run}"
        timestamp = at if at is not None else int(time.time())
        signature = sign_standard(secret, message, timestamp, body)
        headers = {
            "webhook-id": message,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        return await self.post("/alerts/generic", None, headers, raw=body)

    def events(self) -> list[RiskEvent]:
        with session_factory(self.db)() as session:
            return list(session.scalars(select(RiskEvent).order_by(RiskEvent.id)))


def am_payload(
    status: str = "firing",
    *,
    fingerprint: str = "3f1e2d4c5b6a7980",
    labels: dict[str, str] | None = None,
    starts_at: str = "2026-11-27T08:00:00.000Z",
) -> dict[str, Any]:
    """A notification as Alertmanager 0.27 sends it (webhook version 4)."""
    labels = labels or {
        "alertname": "PodsDown",
        "app": "payment-gateway",
        "severity": "critical",
        "namespace": "payments",
    }
    return {
        "receiver": "nightwatch",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": "2 of 3 payment-gateway pods are not running",
                    "runbook_url": "https://wiki.bank.example/runbooks/pods-down",
                },
                "startsAt": starts_at,
                "endsAt": "2026-11-27T08:20:00.000Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
                "fingerprint": fingerprint,
            }
        ],
        "groupLabels": {"alertname": labels.get("alertname", "")},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "2 of 3 payment-gateway pods are not running"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="PodsDown"}',
        "truncatedAlerts": 0,
    }


def grafana_payload() -> dict[str, Any]:
    """A notification as Grafana 11 alerting sends it to a webhook contact point."""
    return {
        "receiver": "nightwatch",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "PodsDown",
                    "app": "payment-gateway",
                    "grafana_folder": "Payments",
                    "severity": "critical",
                },
                "annotations": {"summary": "payment-gateway pods down"},
                "startsAt": "2026-11-27T09:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana:3000/alerting/grafana/abc/view",
                "fingerprint": "a1b2c3d4e5f60718",
                "silenceURL": "http://grafana:3000/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 2, "C": 1},
                "valueString": "[ var='B' labels={} value=2 ]",
            }
        ],
        "groupLabels": {"alertname": "PodsDown"},
        "commonLabels": {"alertname": "PodsDown"},
        "commonAnnotations": {},
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": '{}:{alertname="PodsDown"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] PodsDown",
        "state": "alerting",
        "message": "payment-gateway pods down",
    }


def started_now() -> str:
    return datetime.now(UTC).isoformat()


@pytest_asyncio.fixture
async def intake(dev_engine: Engine) -> AsyncIterator[Intake]:
    """On the real dev server: alerts need no time skipping, and workflows started by a
    client other than the test environment's leave the shared time-skipping server unable
    to skip time for the tests after them."""
    engine = dev_engine
    target = engine.env.client.service_client.config.target_host
    proxy = TcpProxy(target)
    await proxy.start()
    settings = load_settings(
        database_url=engine.db,
        temporal_address=proxy.address,
        task_queue=engine.queue,
        alert_tokens=TOKENS,
        alert_basic_auth="alertmanager:s3cret",
        alert_grafana_secrets=GRAFANA_SECRET,
        alert_webhook_secrets=WEBHOOK_SECRET,
        alert_max_body_bytes=64 * 1024,
    )
    with serve(create_app(settings)) as url:
        served = Intake(url, engine, proxy)
        yield served
    await proxy.stop()
    # Nothing this test started outlives its worker.
    for execution in {e.execution_id for e in served.events() if e.execution_id}:
        with contextlib.suppress(RPCError):  # ended already
            await engine.env.client.get_workflow_handle(execution).terminate("test over")


@pytest.fixture
def self_recovery(dev_engine: Engine) -> str:
    """A SELF_RECOVERY plan whose step 1 takes its note from the alert."""
    engine = dev_engine
    return engine.apply(
        {
            "name": "pods down",
            "scene": "SELF_RECOVERY",
            "steps": [{"name": "note", "action": "CHECKPOINT", "params": {"note": "default"}}],
        }
    )
