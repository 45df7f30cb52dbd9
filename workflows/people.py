"""Rules for people acting on a waiting node: who may act, and what a decision does.

Pure functions over the workflow's state, shared by update validators (which refuse bad
input before anything reaches the history) and signal handlers (which record it as
refused). Deterministic: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE
from nightwatch.masking import plaintext_secrets
from workflows.models import Decision, DecisionKind, Fill, NodeSpec, NodeView

CONFIRMATION = "confirmation"
PARAMETERS = "parameters"
AFTER_FAILURE = "a decision after failure"
MANUAL_WORK = "manual work"


@dataclass
class Wait:
    """What a node waits for and which decisions end the wait."""

    reason: str
    allowed: set[DecisionKind]
    approvals_needed: int = 1
    approvals: list[str] = field(default_factory=list)
    outcome: DecisionKind | None = None
    comment: str | None = None
    by: str | None = None


def may_act(spec: NodeSpec) -> list[str]:
    return list(spec.strategy.confirmers) or ["anyone"]


def _may_not_act(
    user: str, roles: list[str], spec: NodeSpec, node: str, groups: list[str] | None = None
) -> str | None:
    """The step's "may act" list applies to every act on it, decisions and filled-in
    parameters alike: a user name, `role:NAME` or `group:NAME`. Before identities were
    proven, roles were free names (`role:duty-manager`), which are now the provider's
    groups: so `role:NAME` also matches a group of that name."""
    confirmers = spec.strategy.confirmers
    if not may_act_on(confirmers, user, roles, groups or []):
        return f"{user} may not act on node {node}: only {', '.join(confirmers)}"
    return None


def may_act_on(confirmers: list[str], user: str, roles: list[str], groups: list[str]) -> bool:
    """Whether someone is on a step's "may act" list (an empty list: anyone)."""
    names = {user} | {f"role:{r}" for r in [*roles, *groups]} | {f"group:{g}" for g in groups}
    return not confirmers or bool(names & set(confirmers))


def allowed(wait: Wait) -> set[DecisionKind]:
    """What may end this wait: a confirmation may also be rejected."""
    if DecisionKind.CONFIRM in wait.allowed:
        return wait.allowed | {DecisionKind.REJECT}
    return wait.allowed


def refusal(
    decision: Decision,
    spec: NodeSpec | None,
    wait: Wait | None,
    *,
    started_by: str | None = None,
) -> str | None:
    """Why this decision cannot be taken now, or None when it can. `started_by` is set
    when the plan asks for four eyes: who started the execution may not confirm."""
    if decision.action == DecisionKind.ABORT and decision.node in ("", "*"):
        return None
    if spec is None:
        return f"no node {decision.node!r} in this execution"
    if wait is None:
        return f"node {decision.node} is not waiting for a person"
    if decision.action not in allowed(wait):
        possible = ", ".join(sorted(kind.lower() for kind in allowed(wait)))
        return f"node {decision.node} waits for {wait.reason}; possible: {possible}"
    not_allowed = _may_not_act(decision.user, decision.roles, spec, decision.node, decision.groups)
    if not_allowed:
        return not_allowed
    if decision.action == DecisionKind.CONFIRM and started_by == decision.user:
        return (
            f"{decision.user} started this execution and may not confirm its steps: "
            "the plan asks for four eyes"
        )
    if decision.action == DecisionKind.CONFIRM and decision.user in wait.approvals:
        return (
            f"{decision.user} already approved node {decision.node} "
            f"({len(wait.approvals)} of {wait.approvals_needed} approvals)"
        )
    return None


def fill_refusal(
    fill: Fill,
    spec: NodeSpec | None,
    view: NodeView | None,
    wait: Wait | None,
    *,
    catalog: bool = True,
    may_act: bool = True,
) -> str | None:
    """Why this fill cannot be taken now, or None when it can. `catalog` checks the values
    against the action's parameter model of this release: for update validators only
    (they run before history; on replay the recorded outcome stands). A signal's handler
    decides from what the history holds alone (`catalog=False`), so a release that
    tightens a parameter rule gives the same answer on replay. `may_act=False` is the
    rule before fills applied the step's "may act" list (replaying those histories)."""
    if spec is None or view is None:
        return f"no node {fill.node!r} in this execution"
    if wait is None or wait.reason != PARAMETERS:
        return f"node {fill.node} is not waiting for parameters"
    not_allowed = (
        _may_not_act(fill.user, fill.roles, spec, fill.node, fill.groups) if may_act else None
    )
    if not_allowed:
        return not_allowed
    unknown = sorted(set(fill.values) - set(view.missing))
    if unknown:
        return (
            f"node {fill.node} does not wait for {', '.join(unknown)} (waits for "
            f"{', '.join(view.missing)})"
        )
    plain = plaintext_secrets(fill.values, spec.secret_params)
    if plain:
        names = ", ".join(plain)
        return (
            f"{names}: secret, so it must arrive sealed (`nightwatch fill` seals it) or "
            "as env:NAME; plain text is refused before it reaches the history"
        )
    if not catalog:
        return None  # the step's activity checks the values against the action
    action = ACTIONS_BY_CODE.get(spec.action or "")
    if action is None:
        return f"action {spec.action} is not known to this server version"
    merged = {**view.params, **fill.values}
    still_missing = set(view.missing) - set(fill.values)
    problems = check_parameters(action.params, merged, may_be_missing=still_missing)
    if problems:
        return "; ".join(f"{p.field}: {p.reason}" for p in problems)
    return None


def apply_decision(decision: Decision, wait: Wait) -> bool:
    """Record the decision on the wait; True when it ends the wait."""
    if decision.action == DecisionKind.CONFIRM:
        wait.approvals.append(decision.user)
        if len(wait.approvals) < wait.approvals_needed:
            return False
    wait.outcome, wait.comment, wait.by = decision.action, decision.comment, decision.user
    return True
