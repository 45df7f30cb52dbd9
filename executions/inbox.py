"""What waits for people: every node of an open execution waiting for a confirmation,
parameters or a decision after failure, oldest first, optionally only what one identity
may act on (the step's "may act" list, and the plan's four-eyes rule)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from storage import executions
from storage.enums import NodeState
from workflows.people import may_act_on

WHAT = {
    NodeState.WAITING_CONFIRMATION: "confirmation",
    NodeState.WAITING_PARAMETERS: "parameters",
    NodeState.FAILED_WAITING: "a decision after failure",
}


class Waiting(BaseModel):
    execution: str
    plan: str
    node: str
    name: str
    state: str
    waits_for: str
    missing: list[str]
    may_act: list[str]
    since: datetime
    timeout_seconds: int | None = None  # the step's wait ends then (its onTimeout); None: never


class Who(BaseModel):
    """Whom to filter for: a proven identity's name, roles and groups."""

    user: str
    roles: list[str]
    groups: list[str] = []


def waiting(session: Session, who: Who | None = None) -> list[Waiting]:
    """Every node waiting for a person, oldest first; only `who`'s when given."""
    items = []
    for node, execution_id, plan, parent_name in executions.waiting_nodes(session):
        confirmers: list[str] = node.strategy.get("confirmers") or []
        if who is not None and not may_act_on(confirmers, who.user, who.roles, who.groups):
            continue
        items.append(
            Waiting(
                execution=execution_id,
                plan=plan,
                node=_key(node.name, node.type, node.execute_order, parent_name),
                name=node.name,
                state=node.state,
                waits_for=WHAT.get(NodeState(node.state), node.state),
                missing=node.pending_parameters
                if node.state == NodeState.WAITING_PARAMETERS
                else [],
                may_act=confirmers or ["anyone"],
                since=node.updated_at,
                timeout_seconds=_timeout(node.strategy, node.state),
            )
        )
    return items


def _timeout(strategy: dict[str, object], state: str) -> int | None:
    """A wait for a person ends after the step's timeoutSeconds; a decision after failure
    waits as long as it takes."""
    value = strategy.get("timeoutSeconds")
    if state == NodeState.FAILED_WAITING or not isinstance(value, int) or value <= 0:
        return None
    return value


def _key(name: str, kind: str, order: int, parent: str | None) -> str:
    if parent:
        return f"{parent}.{order}"
    return name if kind == "PRE_PLAN_TEMPLATE" else str(order)
