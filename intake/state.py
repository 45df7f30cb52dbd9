"""What the intake's routes share: its settings and credentials, the routing cache, the
Temporal client, and reading, parsing and taking alerts (`IntakeError` for every refusal).

Status codes follow what senders do with them: Alertmanager retries on 5xx and network
errors only, so 503 means "deliver again" (database or Temporal unreachable) and 4xx
means "this will never be valid" (bad JSON, missing fields, a body over the limit, an
alert a rule cannot map). 401 for anything unauthenticated, logged without its body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from executions.service import Executions
from intake import auth
from intake.payloads import Alert
from intake.rules import AlertRejected
from intake.service import Outcome, Routes, handle
from nightwatch.config import Settings
from nightwatch.logs import get_logger
from nightwatch.temporal import connect
from nightwatch.tracing import span
from storage.db import async_session_factory

log = get_logger("nightwatch.intake")


class IntakeError(Exception):
    """A refusal in the shared error shape: `{error, path, reason}` with its status."""

    def __init__(self, status: int, error: str, path: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.path, self.reason = status, error, path, reason


class Accepted(BaseModel):
    received: int
    outcomes: list[dict[str, Any]]


class Intake:
    """One intake's state, kept on `app.state.intake` (routes get it with `intake_of`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.effective_database_url
        self.tokens = Settings.entries(settings.alert_tokens)
        self.basic = Settings.entries(settings.alert_basic_auth)
        self.grafana = Settings.entries(settings.alert_grafana_secrets)
        self.webhook = Settings.entries(settings.alert_webhook_secrets)
        self.limit = settings.alert_max_body_bytes
        # uvicorn refuses any connection without a certificate the client CA signed.
        self.client_certs = settings.intake_tls_client_ca is not None
        self.routes = Routes()
        self._client: Client | None = None

    async def body_of(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            raise IntakeError(413, "TooLarge", "(body)", f"body over the {self.limit} byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limit:
                raise IntakeError(
                    413, "TooLarge", "(body)", f"body over the {self.limit} byte limit"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def refuse(request: Request, source: str, exc: auth.Unauthorized) -> IntakeError:
        client = request.client.host if request.client else "?"
        log.warning("alert refused", source=source, client=client, reason=str(exc))
        return IntakeError(401, "Unauthorized", "(credentials)", str(exc))

    @staticmethod
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

    async def temporal(self) -> Client:
        if self._client is None:
            try:
                self._client = await connect(self.settings)
            except Exception as exc:  # any failure to connect means "deliver again later"
                reason = f"cannot reach Temporal: {type(exc).__name__}"
                raise IntakeError(503, "TemporalUnavailable", "temporal", reason) from None
        return self._client

    async def process(self, alerts: list[Alert]) -> Accepted:
        """Record each alert as a risk event and act on it as its rule says."""
        client = await self.temporal()
        outcomes: list[Outcome] = []
        try:
            async with async_session_factory(self.url)() as session:
                await self.routes.refresh(session)
                await session.commit()
                executions = Executions(
                    client,
                    self.settings.task_queue,
                    database_url=self.url,
                    ring=self.settings.key_ring(),
                )
                for one in self.routes.route(alerts):
                    # With tracing on, one trace per alert: this span, the start, the
                    # workflow and every step of the plan it starts.
                    with span(
                        f"alert {one.alert.source} {one.alert.name or one.alert.fingerprint}",
                        fingerprint=one.alert.fingerprint,
                        rule=one.rule.name if one.rule else None,
                    ):
                        outcomes.append(await handle(session, executions, one, self.routes.limit))
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
            self._client = None
            reason = f"Temporal is unreachable; deliver again ({exc.message})"
            raise IntakeError(503, "TemporalUnavailable", "temporal", reason) from None
        return Accepted(received=len(alerts), outcomes=[o.as_dict() for o in outcomes])


def intake_of(request: Request) -> Intake:
    found: Intake = request.app.state.intake
    return found
