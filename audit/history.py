"""Reading a plan execution's Temporal history: what was started with which input, every
person's act (update or signal, accepted or refused), every step's activity and its
attempts, and the workflow's last view. Payloads are decrypted with the payload keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from catalog.registry import SECRET_PARAM_NAMES, secret_params
from nightwatch.codec import KeyRing, PayloadKeyError
from nightwatch.errors import NightwatchError
from nightwatch.masking import masked
from nightwatch.temporal import data_converter
from workflows.models import (
    AlertResolved,
    Decision,
    ExecutionInput,
    ExecutionView,
    Fill,
    StepRequest,
)

DECISION_UPDATES = {
    "confirm": "CONFIRM",
    "skip": "SKIP",
    "retry": "RETRY",
    "mark_done": "DONE",
    "abort": "ABORT",
}
STEP_BOOKKEEPING = {"create_execution", "record_execution", "send_reminder", "check_database"}


class AuditError(NightwatchError):
    """The report cannot be built (payloads unreadable, nothing to report on)."""


@dataclass
class PersonEvent:
    at: datetime
    workflow_id: str
    via: str  # "update confirm", "signal decide", ...
    node: str
    action: str
    user: str
    comment: str | None = None
    values: dict[str, Any] | None = None
    outcome: str = "accepted"
    # How `user` was proven (`api-token ID`, `oidc ISSUER#SUB`…); None before identities
    # were proven (older histories) or for acts that went around the API.
    proven_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "workflow_id": self.workflow_id,
            "via": self.via,
            "node": self.node,
            "action": self.action,
            "user": self.user,
            "comment": self.comment,
            "values": self.values,
            "outcome": self.outcome,
            "proven_by": self.proven_by,
        }


@dataclass
class StepRun:
    node: str
    action: str
    params: dict[str, Any]
    scheduled_at: datetime
    attempts: int = 0
    outcome: str = "scheduled"
    error: str | None = None
    ended_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "action": self.action,
            "params": self.params,
            "scheduled_at": iso(self.scheduled_at),
            "attempts": self.attempts,
            "outcome": self.outcome,
            "error": self.error,
            "ended_at": iso(self.ended_at),
        }


@dataclass
class Parsed:
    """What one workflow history says."""

    workflow_id: str
    run_id: str
    events: int
    started_at: datetime | None = None
    start: ExecutionInput | None = None
    closed: str | None = None
    closed_at: datetime | None = None
    failure: str | None = None
    view: ExecutionView | None = None
    people: list[PersonEvent] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    alert_resolved_at: datetime | None = None


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


class HistoryReader:
    def __init__(self, ring: KeyRing | None) -> None:
        self.converter = data_converter(ring)

    async def one(self, payloads: Payloads, hint: type) -> Any:
        if not payloads.payloads:
            return None
        try:
            values = await self.converter.decode(payloads.payloads, [hint])
        except PayloadKeyError as exc:
            raise AuditError("payloads", str(exc)) from None
        except Exception:  # an input of an older shape: report it raw rather than fail
            values = await self.converter.decode(payloads.payloads, [dict])
        return values[0] if values else None

    async def parse(self, history: WorkflowHistory) -> Parsed:
        parsed = Parsed(history.workflow_id, "", len(history.events))
        scheduled: dict[int, StepRun] = {}
        updates: dict[str, PersonEvent] = {}
        attrs: Any
        for event in history.events:
            at = _time(event)
            kind = event.WhichOneof("attributes")
            if kind == "workflow_execution_started_event_attributes":
                attrs = event.workflow_execution_started_event_attributes
                parsed.run_id = attrs.original_execution_run_id
                parsed.started_at = at
                parsed.start = await self.one(attrs.input, ExecutionInput)
            elif kind == "workflow_execution_update_accepted_event_attributes":
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                name = request.input.name
                person = await self._person(
                    at, parsed.workflow_id, f"update {name}", name, request.input.args
                )
                if person is not None:
                    updates[request.meta.update_id] = person
                    parsed.people.append(person)
            elif kind == "workflow_execution_update_completed_event_attributes":
                attrs = event.workflow_execution_update_completed_event_attributes
                person = updates.get(attrs.meta.update_id)
                if person is not None and attrs.outcome.HasField("failure"):
                    person.outcome = f"failed: {attrs.outcome.failure.message}"
            elif kind == "workflow_execution_signaled_event_attributes":
                attrs = event.workflow_execution_signaled_event_attributes
                if attrs.signal_name == "alert_resolved":
                    note = await self.one(attrs.input, AlertResolved)
                    parsed.alert_resolved_at = getattr(note, "ended_at", None) or at
                    continue
                person = await self._person(
                    at,
                    parsed.workflow_id,
                    f"signal {attrs.signal_name}",
                    attrs.signal_name,
                    attrs.input,
                )
                if person is not None:
                    parsed.people.append(person)
            elif kind == "activity_task_scheduled_event_attributes":
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name in STEP_BOOKKEEPING:
                    continue
                request = await self.one(attrs.input, StepRequest)
                if isinstance(request, StepRequest):
                    secret = secret_params(request.action)
                    scheduled[event.event_id] = StepRun(
                        node=request.attempt_note or "",
                        action=request.action,
                        params=masked(request.params, secret),
                        scheduled_at=at,
                    )
                    parsed.steps.append(scheduled[event.event_id])
            elif kind == "activity_task_started_event_attributes":
                attrs = event.activity_task_started_event_attributes
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.attempts = attrs.attempt
                    run.outcome = "started"
                    if attrs.HasField("last_failure"):
                        run.error = attrs.last_failure.message
            elif kind == "activity_task_completed_event_attributes":
                run = scheduled.get(
                    event.activity_task_completed_event_attributes.scheduled_event_id
                )
                if run is not None:
                    run.outcome, run.ended_at = "completed", at
            elif kind == "activity_task_failed_event_attributes":
                attrs = event.activity_task_failed_event_attributes
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.outcome, run.ended_at = "failed", at
                    run.error = _failure_text(attrs.failure)
            elif kind in (
                "activity_task_timed_out_event_attributes",
                "activity_task_canceled_event_attributes",
            ):
                attrs = getattr(event, kind)
                run = scheduled.get(attrs.scheduled_event_id)
                if run is not None:
                    run.outcome = "timed out" if "timed_out" in kind else "cancelled"
                    run.ended_at = at
            elif kind == "workflow_execution_completed_event_attributes":
                parsed.closed, parsed.closed_at = "COMPLETED", at
                result = event.workflow_execution_completed_event_attributes.result
                view = await self.one(result, ExecutionView)
                parsed.view = view if isinstance(view, ExecutionView) else None
            elif kind == "workflow_execution_failed_event_attributes":
                parsed.closed, parsed.closed_at = "FAILED", at
                parsed.failure = _failure_text(
                    event.workflow_execution_failed_event_attributes.failure
                )
            elif kind == "workflow_execution_canceled_event_attributes":
                parsed.closed, parsed.closed_at = "CANCELED", at
            elif kind == "workflow_execution_terminated_event_attributes":
                parsed.closed, parsed.closed_at = "TERMINATED", at
                parsed.failure = event.workflow_execution_terminated_event_attributes.reason
            elif kind == "workflow_execution_timed_out_event_attributes":
                parsed.closed, parsed.closed_at = "TIMED_OUT", at
        return parsed

    async def _person(
        self, at: datetime, workflow_id: str, via: str, name: str, args: Payloads
    ) -> PersonEvent | None:
        if name in DECISION_UPDATES or name == "decide":
            decision = await self.one(args, Decision)
            if not isinstance(decision, Decision):
                return None
            action = DECISION_UPDATES.get(name, decision.action.value)
            return PersonEvent(
                at,
                workflow_id,
                via,
                decision.node,
                action,
                decision.user,
                decision.comment,
                proven_by=decision.proven_by,
            )
        if name in ("fill_parameters", "fill"):
            fill = await self.one(args, Fill)
            if not isinstance(fill, Fill):
                return None
            values = masked(fill.values, set(SECRET_PARAM_NAMES))
            return PersonEvent(
                at,
                workflow_id,
                via,
                fill.node,
                "FILL",
                fill.user,
                fill.comment,
                values,
                proven_by=fill.proven_by,
            )
        return None


def _failure_text(failure: Any) -> str:
    text = failure.message
    cause = failure
    while cause.HasField("cause"):
        cause = cause.cause
        text = cause.message or text
    return str(text)


# -- the report ---------------------------------------------------------------------------
