"""Routing rules: label matchers → a SELF_RECOVERY plan, with the alert → parameter mapping.

Rules live in the database (`alert_rule`), edited through the intake API or applied from a
YAML file like plans. The first enabled rule that matches, in priority order (lower
number first, then name), routes the alert. A parameter value may use placeholders:
`{labels.NAME}`, `{annotations.NAME}`, `{fingerprint}`, `{severity}`, `{alertname}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.params import check_parameters
from catalog.registry import ACTIONS_BY_CODE, secret_params
from intake.payloads import Alert, Source
from nightwatch.errors import Conflict, NightwatchError
from nightwatch.sealing import plaintext_secrets
from plans import store
from storage.enums import Scene
from storage.models import AlertRule, RiskEvent

PLACEHOLDER = re.compile(r"\{(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)\}|\{(\w+)\}")
SIMPLE = {"fingerprint", "severity", "alertname"}


class RuleInvalid(NightwatchError):
    """A rule that cannot be stored (names the field and why)."""


class RuleInUse(Conflict):
    """A rule that risk events point at cannot be deleted (disable it)."""


class AlertRejected(NightwatchError):
    """An alert that matches a rule but can never start its plan (e.g. a label missing)."""


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str

    @field_validator("value")
    @classmethod
    def _regex_compiles(cls, value: str, info: Any) -> str:
        if info.data.get("op") in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def matches(self, labels: dict[str, str]) -> bool:
        given = labels.get(self.label, "")
        if self.op == "=":
            return given == self.value
        if self.op == "!=":
            return given != self.value
        found = re.fullmatch(self.value, given) is not None
        return found if self.op == "=~" else not found


class RuleDoc(BaseModel):
    """One routing rule as written in a file or sent to the API."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    priority: int = Field(100, ge=0, le=1_000_000)
    enabled: bool = True
    match: list[Matcher] = Field(min_length=1)
    plan: str = Field(min_length=1, description="a SELF_RECOVERY plan's name")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="node key -> parameter -> value or placeholder"
    )
    signal_resolved: bool = Field(
        True, description="tell the execution when the alert resolves (recorded on it)"
    )
    action: Literal["start", "propose"] = Field(
        "start",
        description="start the plan (SELF_RECOVERY plans), or propose it: shown with the risk "
        "event for a person to start (any plan)",
    )

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert.labels) for m in self.match)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["nightwatch/alert-rules/v1"]
    rules: list[RuleDoc]


def _doc(row: AlertRule) -> RuleDoc:
    return RuleDoc(
        name=row.name,
        description=row.description,
        priority=row.priority,
        enabled=row.enabled,
        match=[Matcher(**m) for m in row.matchers],
        plan=row.plan_name,
        params=row.params,
        signal_resolved=row.signal_resolved,
        action="propose" if row.action == "propose" else "start",
    )


def list_rules(session: Session) -> list[tuple[int, RuleDoc]]:
    rows = session.scalars(select(AlertRule).order_by(AlertRule.priority, AlertRule.name))
    return [(row.id, _doc(row)) for row in rows]


def check_rule(session: Session, rule: RuleDoc) -> None:
    """The plan exists (a SELF_RECOVERY plan when the rule starts it); mapped nodes and
    parameters exist."""
    try:
        plan = store.main_plan(session, rule.plan)
    except NightwatchError:
        raise RuleInvalid("plan", f"no plan named {rule.plan!r}") from None
    if plan.scene != Scene.SELF_RECOVERY and rule.action == "start":
        raise RuleInvalid(
            "plan",
            f"{rule.plan!r} is a {plan.scene} plan; rules start SELF_RECOVERY plans only "
            "(action: propose shows any plan with the risk event)",
        )
    steps = _steps(session, plan.id)
    for key, values in rule.params.items():
        if key not in steps:
            raise RuleInvalid(
                f"params.{key}", f"no step {key} in {rule.plan!r} (steps: {', '.join(steps)})"
            )
        known = set(ACTIONS_BY_CODE[steps[key]].params.model_fields)
        for name, value in values.items():
            if name not in known:
                raise RuleInvalid(f"params.{key}.{name}", f"{steps[key]} has no such parameter")
            if plaintext_secrets({name: value}, secret_params(steps[key])):
                raise RuleInvalid(
                    f"params.{key}.{name}",
                    "a secret: a rule holds only env:NAME (read on the worker), never the value",
                )
            for match in PLACEHOLDER.finditer(str(value)):
                if match.group(3) and match.group(3) not in SIMPLE:
                    simple = ", ".join("{" + s + "}" for s in sorted(SIMPLE))
                    raise RuleInvalid(
                        f"params.{key}.{name}",
                        f"unknown placeholder "
                        f"{match.group(0)} (use {{labels.X}}, {{annotations.X}}, "
                        f"{simple})",
                    )


def plan_steps(session: Session, plan: str) -> dict[str, str]:
    """A plan's top-level steps: node key -> action code."""
    return _steps(session, store.main_plan(session, plan).id)


def _steps(session: Session, plan_id: int) -> dict[str, str]:
    codes = store.action_codes(session)
    return {
        str(step.execute_order): codes[step.atom_id]
        for step, _ in store.step_tree(session, plan_id)
    }


def save_rule(session: Session, rule: RuleDoc) -> tuple[str, int]:
    """Create or replace a rule by name; returns (created|updated|unchanged, id)."""
    check_rule(session, rule)
    values = {
        "description": rule.description,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "matchers": [m.model_dump() for m in rule.match],
        "plan_name": rule.plan,
        "params": rule.params,
        "signal_resolved": rule.signal_resolved,
        "action": rule.action,
    }
    row = session.scalar(select(AlertRule).where(AlertRule.name == rule.name))
    if row is None:
        row = AlertRule(name=rule.name, **values)
        session.add(row)
        session.flush()
        return "created", row.id
    if _doc(row) == rule:
        return "unchanged", row.id
    for key, value in values.items():
        setattr(row, key, value)
    return "updated", row.id


def delete_rule(session: Session, name: str) -> bool:
    """Delete a rule; False if there is none. A rule that routed alerts stays: its risk
    events point at it (their story names the rule), so RuleInUse says to disable it."""
    row = session.scalar(select(AlertRule).where(AlertRule.name == name))
    if row is None:
        return False
    routed = session.scalar(
        select(func.count()).select_from(RiskEvent).where(RiskEvent.rule_id == row.id)
    )
    if routed:
        raise RuleInUse(
            name,
            f"the rule routed {routed} risk event(s), which keep pointing "
            "at it; disable it instead (enabled: false, then apply)",
        )
    session.delete(row)
    return True


def read_rule_file(path: Path) -> list[RuleDoc]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleInvalid(str(path), f"cannot read: {exc}") from None
    try:
        return RuleFile.model_validate(data).rules
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise RuleInvalid(f"{path}: {where}", error["msg"]) from None


# -- at alert time -------------------------------------------------------------------------


def route(rules: list[tuple[int, RuleDoc]], alert: Alert) -> tuple[int, RuleDoc] | None:
    return next(((i, r) for i, r in rules if r.enabled and r.matches(alert)), None)


def _fill(template: Any, alert: Alert, where: str) -> Any:
    if not isinstance(template, str):
        return template

    def value(match: re.Match[str]) -> str:
        kind, name, simple = match.groups()
        if simple:
            found = {
                "fingerprint": alert.fingerprint,
                "severity": alert.severity,
                "alertname": alert.name,
            }.get(simple)
            if found is None:
                raise AlertRejected(where, f"{{{simple}}}: the alert has no {simple}")
            return found
        source = alert.labels if kind == "labels" else alert.annotations
        if name not in source:
            has = ", ".join(sorted(source)) or "none"
            raise AlertRejected(
                where, f"{{{kind}.{name}}}: the alert has no {kind[:-1]} {name!r} (it has: {has})"
            )
        return source[name]

    return PLACEHOLDER.sub(value, template)


def mapped_params(steps: dict[str, str], rule: RuleDoc, alert: Alert) -> dict[str, dict[str, Any]]:
    """The execution's parameter overrides for this alert, checked against the actions
    (`steps`: the rule's plan's node key -> action code)."""
    result: dict[str, dict[str, Any]] = {}
    for key, values in rule.params.items():
        filled = {
            name: _fill(v, alert, f"rule {rule.name}: params.{key}.{name}")
            for name, v in values.items()
        }
        if key not in steps:
            raise AlertRejected(
                f"rule {rule.name}: params.{key}",
                f"the plan {rule.plan!r} has no such step any more",
            )
        action = ACTIONS_BY_CODE[steps[key]]
        problems = [
            p
            for p in check_parameters(
                action.params, filled, may_be_missing=set(action.params.model_fields)
            )
            if p.field in filled
        ]
        if problems:
            listed = "; ".join(f"{p.field}: {p.reason}" for p in problems)
            raise AlertRejected(f"rule {rule.name}: params.{key}", listed)
        # Typed as the action declares them ("3" from a label becomes 3 for an int).
        result[key] = {
            name: _typed(action.params.model_fields[name].annotation, value)
            for name, value in filled.items()
        }
    return result


def _typed(annotation: Any, value: Any) -> Any:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


def proposed_params(session: Session, event: RiskEvent) -> dict[str, dict[str, Any]]:
    """The parameters the rule that proposed this event's plan maps from the event's labels
    and annotations (what an automatic start would have used); {} when the rule is gone or
    no longer maps (the person then fills them in)."""
    if event.rule_id is None or event.plan_name is None:
        return {}
    row = session.get(AlertRule, event.rule_id)
    if row is None or not row.params:
        return {}
    rule = _doc(row)
    alert = Alert(
        source=event.source if event.source in get_args(Source) else "generic",
        fingerprint=event.fingerprint,
        status="firing",
        name=event.alert_name,
        severity=event.severity,
        labels=event.labels,
        annotations=event.annotations,
        starts_at=event.starts_at,
        ends_at=None,
        episode=event.episode,
    )
    try:
        return mapped_params(plan_steps(session, event.plan_name), rule, alert)
    except NightwatchError:
        return {}
