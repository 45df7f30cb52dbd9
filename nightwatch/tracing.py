"""Optional OpenTelemetry tracing (NIGHTWATCH_TRACING=on): the Temporal SDK's tracing
interceptor on every client and worker, spans exported over OTLP/HTTP to the collector
OTEL_EXPORTER_OTLP_ENDPOINT names (the standard variables configure the exporter). One
trace follows an alert from the intake's webhook through the workflow to its last step.

Off (the default), nothing is imported or exported; `span` is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nightwatch.config import Settings


def interceptors(settings: Settings) -> list[Any]:
    """The client interceptors tracing needs (workers built on the client inherit them)."""
    if settings.tracing != "on":
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    _provider()
    return [TracingInterceptor()]


def _provider() -> None:
    """Export spans over OTLP unless this process set up its own tracer provider already
    (an agent, or a test's in-memory exporter)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "nightwatch"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


@contextmanager
def span(name: str, **attributes: str | int | None) -> Iterator[None]:
    """A span around what follows (the start of a trace: an alert's delivery); nothing
    without OpenTelemetry installed (the `tracing` extra) or with no provider set."""
    try:
        from opentelemetry import trace
    except ImportError:
        yield
        return
    shown = {key: value for key, value in attributes.items() if value is not None}
    with trace.get_tracer("nightwatch").start_as_current_span(name, attributes=shown):
        yield
