"""Inputs, outputs and state of plan executions: shared by the workflow, its activities and
the CLI. Plain pydantic models only (no I/O), so workflow code may import them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from plans.model import StepStrategy
from storage.enums import NodeState

TriggerKind = Literal["OPERATOR", "ALERT", "SCHEDULE", "RERUN"]
TERMINAL_NODE_STATES = {
    NodeState.SUCCEEDED,
    NodeState.SKIPPED,
    NodeState.DONE_BY_HAND,
    NodeState.FAILED,
    NodeState.ABORTED,
    NodeState.CANCELLED,
}


class NodeSpec(BaseModel):
    """One node of the execution as snapshotted at start (effective parameters included)."""

    key: str
    node_id: int
    name: str
    kind: Literal["ACTION", "SUB_PLAN"]
    action: str | None = None
    activity: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    pending: list[str] = Field(default_factory=list)
    secret_params: list[str] = Field(default_factory=list)
    strategy: StepStrategy = Field(default_factory=StepStrategy)
    max_attempts: int = 3
    timeout_seconds: int = 1800
    sub_plan: str | None = None
    children: list[NodeSpec] = Field(default_factory=list)
    skip_reason: str | None = None


class ExecutionSnapshot(BaseModel):
    execution_id: str
    execution_row: int
    plan_id: int
    plan_name: str
    plan_version: int
    scene: str
    nodes: list[NodeSpec]
    search_attributes: list[str] = Field(
        default_factory=list, description="our search attributes the namespace has registered"
    )
    four_eyes: bool = Field(
        False, description="whoever started the execution may not confirm its steps"
    )


# The error type of bookkeeping that found the database away: the workflow waits and tries
# again; any other failure of bookkeeping is final (activities/execution.py raises both).
DATABASE_UNAVAILABLE = "DatabaseUnavailable"


class ExecutionInput(BaseModel):
    """What starts an execution. From the Web UI, plain JSON such as
    `{"plan": "loan-api overload", "overrides": {"3": {"pods": 4}}, "triggered_by": "li.wei"}`."""

    plan: str = Field(description="plan name or id")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="node key (e.g. '3' or 'DISASTER_SWITCH.2') -> params"
    )
    triggered_by: str = "web-ui"
    proven_by: str | None = Field(
        None, description="how triggered_by was proven (api-token ID, oidc ISSUER#SUB…)"
    )
    trigger_kind: TriggerKind = "OPERATOR"
    trigger_details: dict[str, Any] = Field(default_factory=dict)
    rerun_of: str | None = Field(None, description="execution id this one re-runs")
    rerun_from: str | None = Field(None, description="node key the re-run starts at")
    # Set by an execution for its disaster-recovery sub-plans (child workflows) only.
    sub_plan: str | None = None
    snapshot: ExecutionSnapshot | None = None


class DecisionKind(StrEnum):
    CONFIRM = "CONFIRM"
    REJECT = "REJECT"  # an approver refuses a confirmation: the execution stops there
    SKIP = "SKIP"
    RETRY = "RETRY"
    DONE = "DONE"
    ABORT = "ABORT"


class Decision(BaseModel):
    """A person's decision about a node (the signal form, for the Web UI: `action` names it).
    Through the API, `user`, `roles`, `groups` and `proven_by` are the authenticated
    identity's, whatever the caller wrote."""

    node: str = Field(description="node key, e.g. '3' or 'DISASTER_SWITCH.2'")
    user: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    proven_by: str | None = None
    comment: str | None = None
    action: DecisionKind = DecisionKind.CONFIRM


class AlertResolved(BaseModel):
    """The alert that started this execution has resolved (recorded, nothing stops)."""

    fingerprint: str
    ended_at: datetime | None = None


class Fill(BaseModel):
    """Parameters a person fills in for a node waiting for them."""

    node: str
    user: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    proven_by: str | None = None
    values: dict[str, Any]
    comment: str | None = None


class DecisionRecord(BaseModel):
    action: str
    user: str
    at: datetime
    comment: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class NodeView(BaseModel):
    key: str
    name: str
    kind: str
    action: str | None
    state: NodeState
    waiting_for: str | None = None
    may_act: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    attempts: int = 0
    approvals: list[str] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    output: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class ExecutionView(BaseModel):
    execution_id: str
    plan: str
    plan_id: int
    plan_version: int
    scene: str
    state: str
    waiting_for: str | None = None
    nodes: list[NodeView]
    alert_resolved_at: datetime | None = None  # alert-started: when its alert resolved


class NodeRecord(BaseModel):
    """A node's state as the workflow knows it, written to the database."""

    node_id: int
    state: NodeState
    params: dict[str, Any]
    pending: list[str] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    attempts: int = 0
    output: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class ExecutionRecord(BaseModel):
    execution_row: int
    state: str | None = Field(None, description="None: leave the execution's state as it is")
    error: str | None = None
    nodes: list[NodeRecord]
    ended: bool = False


class StepRequest(BaseModel):
    """What the step activity needs: the node and its effective parameters."""

    execution_row: int
    node_id: int
    action: str
    params: dict[str, Any]
    attempt_note: str | None = None  # the node's key
    # The (top-level) execution's id: sealed parameters are bound to it and to the node.
    execution_id: str | None = None
    # Values a signal filled in were not checked against the action yet: the step does it.
    check_params: bool = False
    round: int = 1  # 1 + how many times a person asked for a retry (part of idempotency keys)
    # The execution's final record if this step succeeds (its last step, nothing failed,
    # nobody waited on): the step writes it with its own result, so the end costs no
    # bookkeeping round of its own. The step fills in its node's output and end time.
    finish: ExecutionRecord | None = None


class StepResult(BaseModel):
    output: dict[str, Any] = Field(default_factory=dict)
    recorded: bool = False  # the step wrote the request's `finish`: the execution's end


def site_queue(base: str, site: str | None) -> str | None:
    """The task queue of a data centre's workers (`nightwatch@dc-b`); None for any worker
    (the workflow's own queue, which every worker polls)."""
    return f"{base}@{site}" if site else None
