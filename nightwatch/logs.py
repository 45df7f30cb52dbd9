"""structlog, configured once: JSON lines in production, readable console in development.

Standard-library records (temporalio, alembic, uvicorn) go through the same processors,
and records that Temporal's workflow and activity loggers emit get `execution_id`
(the workflow id of the plan execution) so every line of a run can be found by it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from nightwatch.config import Settings, unknown_environment_settings

_configured: tuple[str, str] | None = None


def _execution_id_from_temporal(_: Any, __: str, event: EventDict) -> EventDict:
    """Lift Temporal's logger extras into flat keys: `execution_id`, `workflow_type`…"""
    record = event.get("_record")
    for attribute in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attribute, None) if record is not None else None
        if isinstance(details, Mapping):
            workflow_id = details.get("workflow_id")
            if workflow_id and "execution_id" not in event:
                event["execution_id"] = workflow_id
            for key in ("workflow_type", "activity_type", "attempt"):
                if key in details:
                    event.setdefault(key, details[key])
    return event


def _drop_secret_keys(_: Any, __: str, event: EventDict) -> EventDict:
    """Never log a value under a key that names a credential."""
    for key in list(event):
        if any(word in key.lower() for word in ("password", "secret", "token", "credential")):
            event[key] = "***"
    return event


def configure_logging(settings: Settings, *, command_line: bool = False) -> None:
    """Configure structlog and the standard library once per process (idempotent).

    Command-line tools print their own results, so their log lines start at WARNING
    unless NIGHTWATCH_LOG_LEVEL asks for more.
    """
    global _configured
    level = settings.log_level
    if command_line and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    wanted = (settings.effective_log_format, level)
    if _configured == wanted:
        return
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _execution_id_from_temporal,
        _drop_secret_keys,
    ]
    renderer: Processor
    if settings.effective_log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks: rich ones print every frame's local variables (parameters,
        # tokens) and cost tens of milliseconds each, which a database outage multiplies.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter that says nothing an operator acts on.
    for noisy in ("httpx", "httpcore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Apprise writes webhook URLs (their tokens) into its debug lines: never below WARNING.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    _configured = wanted
    for key in unknown_environment_settings():
        # A warning, not an error: a rolled-back server must still start with a newer manifest.
        get_logger("nightwatch.config").warning("unknown setting ignored", variable=key)


def bind_execution(execution_id: str) -> None:
    """Every later log line of this task carries the execution id."""
    structlog.contextvars.bind_contextvars(execution_id=execution_id)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
