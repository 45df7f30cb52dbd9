"""Prometheus metrics of every Nightwatch process, through prometheus_client, and the
Temporal SDK's own metrics from its runtime, on one `/metrics` page.

The counters count what happens in the process that does it: executions created (API,
intake, worker), steps and ends (worker), decisions (API), alerts (intake), inspection
results and pushes (worker). Prometheus sums them across processes. A scrape needs a
metrics token (`NIGHTWATCH_METRICS_TOKENS`): the page names plans and checks.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
)

from nightwatch.config import Settings
from nightwatch.errors import Forbidden, Unauthenticated
from nightwatch.temporal import sdk_metrics_endpoint

EXECUTIONS_STARTED = Counter(
    "nightwatch_executions_started", "Executions created, by plan and trigger", ["plan", "trigger"]
)
EXECUTIONS_FINISHED = Counter(
    "nightwatch_executions_finished", "Executions ended, by plan and state", ["plan", "state"]
)
STEP_SECONDS = Histogram(
    "nightwatch_step_duration_seconds",
    "How long a step's action ran, by action and outcome (succeeded, failed, cancelled)",
    ["action", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
DECISIONS = Counter(
    "nightwatch_decisions", "People's decisions the executions took, by kind", ["kind"]
)
DECISIONS_REFUSED = Counter(
    "nightwatch_decisions_refused", "Decisions and fills an execution refused, by kind", ["kind"]
)
INTAKE_ALERTS = Counter(
    "nightwatch_intake_alerts",
    "Alerts the intake took, by source and outcome",
    ["source", "outcome"],
)
INTAKE_REFUSED = Counter(
    "nightwatch_intake_refused",
    "Webhook deliveries the intake refused, by HTTP status",
    ["status"],
)
INSPECTION_RESULTS = Counter(
    "nightwatch_inspection_results",
    "Inspection results, by plan, check and outcome (PASS, WARN, FAIL)",
    ["plan", "check", "outcome"],
)
INSPECTION_MISSED_RUNS = Counter(
    "nightwatch_inspection_missed_runs",
    "Scheduled inspection runs that never ran (Temporal away past the catch-up window)",
    ["plan"],
)
NOTIFICATION_FAILURES = Counter(
    "nightwatch_notification_failures", "Pushes that did not reach a channel", ["channel"]
)


def page(sdk_endpoint: str | None = None) -> bytes:
    """The metrics page: this process's metrics, then the Temporal SDK's (served by its
    runtime on a loopback port) when it has some."""
    text = generate_latest(REGISTRY)
    if sdk_endpoint:
        try:
            answer = httpx.get(f"http://{sdk_endpoint}/metrics", timeout=2)
            if answer.status_code == 200:
                text += answer.content
        except httpx.HTTPError:
            text += b"# the Temporal SDK's metrics did not answer\n"
    return text


CONTENT_TYPE = CONTENT_TYPE_LATEST


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def check_scraper(header: str, tokens: list[str]) -> None:
    """A scrape's `Authorization: Bearer <metrics token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthenticated("Authorization", "a metrics token: `Authorization: Bearer <token>`")
    if not tokens or not any(hmac.compare_digest(given.strip(), t) for t in tokens):
        raise Forbidden("Authorization", "not a metrics token (NIGHTWATCH_METRICS_TOKENS)")


def install(app: FastAPI, settings: Settings, extra: Callable[[], bytes] | None = None) -> None:
    """`GET /metrics` on `app`: this process's metrics and the SDK's, then `extra` (what
    this app reads at scrape time, e.g. the API's steps waiting for people)."""

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        summary="Prometheus metrics (a metrics token: NIGHTWATCH_METRICS_TOKENS)",
    )
    def metrics(request: Request) -> Response:
        check_scraper(
            request.headers.get("authorization", ""), settings.entries(settings.metrics_tokens)
        )
        body = page(sdk_metrics_endpoint() if settings.sdk_metrics else None)
        if extra is not None:
            body += extra()
        return Response(body, media_type=CONTENT_TYPE)


def serve_metrics(settings: Settings, host: str, port: int, identity: str) -> WSGIServer:
    """`/metrics` and `/healthz` for a process with no web app of its own (the worker), on
    a daemon thread; `shutdown()` stops it."""
    tokens = settings.entries(settings.metrics_tokens)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok", "identity": identity}).encode()]
        if path != "/metrics":
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error":"NotFound","path":"(url)","reason":"/metrics or /healthz"}']
        try:
            check_scraper(environ.get("HTTP_AUTHORIZATION", ""), tokens)
        except (Unauthenticated, Forbidden) as refused:
            status = "401 Unauthorized" if isinstance(refused, Unauthenticated) else "403 Forbidden"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(refused.to_dict()).encode()]
        body = page(sdk_metrics_endpoint() if settings.sdk_metrics else None)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [body]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr (scrapes every 15 s)."""
