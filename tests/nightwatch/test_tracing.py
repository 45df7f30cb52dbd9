"""With NIGHTWATCH_TRACING=on, one trace follows an alert: the intake's span for the alert,
the workflow it starts, and every step of the plan (the SDK's tracing interceptor on the
intake's client and the worker's)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.rules import RuleDoc, save_rule
from nightwatch.config import load_settings
from nightwatch.temporal import connect
from plans import store
from plans.model import PlanDocument
from runtime.worker import build_worker
from storage.db import session_factory
from storage.models import RiskEvent
from tests.intake.conftest import am_payload
from tests.support import serve, wait_until_async
from workflows.execution import PlanExecutionWorkflow

pytestmark = pytest.mark.devserver


def _exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_one_trace_from_the_alert_to_the_last_step(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str
) -> None:
    exporter = _exporter()
    with session_factory(engine_db)() as session:
        store.apply(
            session,
            PlanDocument.model_validate(
                {
                    "name": "traced pods down",
                    "scene": "SELF_RECOVERY",
                    "steps": [
                        {"name": "look", "action": "CHECKPOINT", "params": {"note": "seen"}},
                        {
                            "name": "tell",
                            "action": "NOTIFY",
                            "params": {"channel": "ops", "message": "pods down: traced"},
                        },
                    ],
                }
            ),
        )
        save_rule(
            session,
            RuleDoc.model_validate(
                {
                    "name": "traced",
                    "plan": "traced pods down",
                    "match": [{"label": "alertname", "value": "PodsDown"}],
                }
            ),
        )
        session.commit()
    settings = load_settings(
        database_url=engine_db,
        temporal_address=dev_env.client.service_client.config.target_host,
        task_queue=task_queue,
        alert_tokens="trace-token",
        tracing="on",
    )
    client = await connect(settings)  # the tracing interceptor on; the worker inherits it
    payload = am_payload(fingerprint=f"traced-{uuid.uuid4().hex[:10]}")
    async with build_worker(client, task_queue, engine_db):
        with serve(create_app(settings)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                taken = await http.post(
                    "/alerts/alertmanager",
                    json=payload,
                    headers={"authorization": "Bearer trace-token"},
                )
        assert taken.status_code == 200, taken.text
        execution = taken.json()["outcomes"][0]["execution_id"]
        handle = client.get_workflow_handle(execution)

        async def ended() -> bool:
            view = await handle.query(PlanExecutionWorkflow.get_state)
            return view.state == "SUCCEEDED"

        await wait_until_async(ended, within=60, what="the traced execution to succeed")
    spans = exporter.get_finished_spans()
    alert = [s for s in spans if s.name.startswith("alert alertmanager")]
    assert len(alert) == 1, [s.name for s in spans]
    trace_id = alert[0].context.trace_id
    ours = [s for s in spans if s.context.trace_id == trace_id]
    names = [s.name for s in ours]
    assert any(n.startswith("StartWorkflow:PlanExecution") for n in names), names
    assert any(n.startswith("RunWorkflow:PlanExecution") for n in names), names
    steps = [n for n in names if n.startswith("RunActivity:")]
    assert any("notify" in n.lower() for n in steps), names  # the last step, in the trace
    with session_factory(engine_db)() as session:
        event = session.scalar(select(RiskEvent).where(RiskEvent.execution_id == execution))
    assert event is not None  # the alert's risk event names the traced execution
