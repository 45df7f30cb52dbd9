"""Sync the action catalog declared in code into `pre_plan_action` / `pre_plan_action_param`.

Creates new rows, updates changed ones, writes nothing when nothing changed, and retires
(never deletes) actions and parameters that left the code. Rows last written by a newer
server version are left alone, so a rolling upgrade never fights over the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from catalog.params import ParamInfo
from catalog.spec import ActionSpec
from catalog.versions import is_newer
from nightwatch.logs import get_logger
from storage.enums import StepType
from storage.models import Plan, PlanAction, PlanActionParam, PlanStep, SystemConfig

log = get_logger("nightwatch.catalog.sync")
HIDDEN_BY_DECLARATION = "hidden by its declaration in code"
CATALOG_LOCK_KEY = 0x4E57_4341_5441  # "NWCATA"


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    unchanged: int = 0
    left_to_newer: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        return bool(self.created or self.updated or self.retired)

    def summary(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "retired": self.retired,
            "unchanged": self.unchanged,
            "left_to_newer": self.left_to_newer,
            "hidden": self.hidden,
        }


def existing_config_keys(session: Session) -> set[str]:
    """Keys that exist for the visibility rule: set (not null) and not retired."""
    rows = session.execute(
        select(SystemConfig.key).where(
            SystemConfig.retired_at.is_(None), SystemConfig.value.is_not(None)
        )
    )
    return set(rows.scalars())


def visibility(
    declared_visible: bool, depends_on: Sequence[str], config_keys: set[str]
) -> tuple[bool, str | None]:
    if not declared_visible:
        return False, HIDDEN_BY_DECLARATION
    missing = [key for key in depends_on if key not in config_keys]
    if missing:
        return False, "needs system config " + ", ".join(missing) + " (not set)"
    return True, None


def _action_values(
    spec: ActionSpec, version: str, visible: bool, reason: str | None
) -> dict[str, Any]:
    """The row for an action: its definition (one source) plus what the sync decides."""
    values = spec.definition()
    del values["params"]
    values["declared_visible"] = values.pop("user_visible")
    values.update(
        user_visible=visible,
        invisible_reason=reason,
        definition_hash=spec.definition_hash,
        synced_by_version=version,
        retired_at=None,
        retired_in_version=None,
    )
    return values


def _param_values(action_id: int, info: ParamInfo) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "name": info.name,
        "display_name": info.display_name,
        "description": info.description,
        "type": info.type,
        "required": info.required,
        "default": {"value": info.default} if info.default is not None else None,
        "secret": info.secret,
        "display_order": info.display_order,
        "validation": info.validation,
        "option_source": info.option_source,
        "option_filter": info.option_filter,
        "retired_at": None,
        "retired_in_version": None,
    }


_PARAM_COMPARED = (
    "display_name",
    "description",
    "type",
    "required",
    "default",
    "secret",
    "display_order",
    "validation",
    "option_source",
    "option_filter",
    "retired_at",
)


def sync_catalog(session: Session, actions: Sequence[ActionSpec], version: str) -> SyncReport:
    """Bring the catalog tables in line with `actions`; the caller commits."""
    # Syncs of any version queue here, so two servers never insert the same code at once.
    session.execute(text("select pg_advisory_xact_lock(:key)"), {"key": CATALOG_LOCK_KEY})
    report = SyncReport()
    now = datetime.now(UTC)
    config_keys = existing_config_keys(session)
    rows = {
        row.code: row
        for row in session.execute(
            select(
                PlanAction.id,
                PlanAction.code,
                PlanAction.definition_hash,
                PlanAction.user_visible,
                PlanAction.invisible_reason,
                PlanAction.retired_at,
                PlanAction.synced_by_version,
            )
        )
    }
    new: list[tuple[ActionSpec, dict[str, Any]]] = []
    changed: list[tuple[int, ActionSpec, dict[str, Any]]] = []
    for spec in actions:
        visible, reason = visibility(spec.user_visible, spec.depends_on_configs, config_keys)
        if not visible:
            report.hidden[spec.code] = reason or ""
        row = rows.get(spec.code)
        values = _action_values(spec, version, visible, reason)
        if row is None:
            new.append((spec, values))
        elif is_newer(row.synced_by_version, version):
            report.left_to_newer.append(spec.code)
        elif (row.definition_hash, row.user_visible, row.invisible_reason, row.retired_at) == (
            spec.definition_hash,
            visible,
            reason,
            None,
        ):
            report.unchanged += 1
        else:
            changed.append((row.id, spec, values))

    if new:
        inserted = session.execute(
            insert(PlanAction).returning(PlanAction.id, PlanAction.code),
            [values for _, values in new],
        )
        ids = {code: action_id for action_id, code in inserted}
        params = [
            _param_values(ids[spec.code], info) for spec, _ in new for info in spec.param_infos
        ]
        if params:
            session.execute(insert(PlanActionParam), params)
        report.created = [spec.code for spec, _ in new]

    if changed:
        session.execute(
            update(PlanAction), [{"id": action_id, **values} for action_id, _, values in changed]
        )
        for action_id, spec, _ in changed:
            _sync_params(session, action_id, spec, version, now)
        report.updated = [spec.code for _, spec, _ in changed]

    declared = {spec.code for spec in actions}
    to_retire = [
        row
        for code, row in rows.items()
        if code not in declared
        and row.retired_at is None
        and not is_newer(row.synced_by_version, version)
    ]
    if to_retire:
        session.execute(
            update(PlanAction),
            [
                {
                    "id": row.id,
                    "retired_at": now,
                    "retired_in_version": version,
                    "user_visible": False,
                    "invisible_reason": f"retired in {version}",
                    "synced_by_version": version,
                }
                for row in to_retire
            ],
        )
        report.retired = sorted(row.code for row in to_retire)
        _warn_about_plans_using(session, [row.id for row in to_retire])
    if report.wrote:
        log.info(
            "catalog synced",
            version=version,
            created=len(report.created),
            updated=len(report.updated),
            retired=report.retired,
            hidden=len(report.hidden),
        )
    return report


def _sync_params(
    session: Session, action_id: int, spec: ActionSpec, version: str, now: datetime
) -> None:
    existing = {
        row.name: row
        for row in session.scalars(
            select(PlanActionParam).where(PlanActionParam.action_id == action_id)
        )
    }
    for info in spec.param_infos:
        wanted = _param_values(action_id, info)
        row = existing.pop(info.name, None)
        if row is None:
            session.execute(insert(PlanActionParam), [wanted])
        elif any(getattr(row, key) != wanted[key] for key in _PARAM_COMPARED):
            for key in _PARAM_COMPARED:
                setattr(row, key, wanted[key])
    for row in existing.values():  # parameters that left the model
        if row.retired_at is None:
            row.retired_at, row.retired_in_version = now, version
    session.flush()


def _warn_about_plans_using(session: Session, action_ids: list[int]) -> None:
    for use in plans_using(session, action_ids):
        log.warning("a plan uses a retired action; it will fail validation", **use)


def plans_using(session: Session, action_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Live plans whose steps use these actions: plan, step and action for each use."""
    rows = session.execute(
        select(Plan.id, Plan.name, PlanStep.execute_order, PlanStep.name, PlanAction.code)
        .join(PlanStep, PlanStep.plan_id == Plan.id)
        .join(PlanAction, PlanAction.id == PlanStep.atom_id)
        .where(
            PlanStep.type == StepType.ATOMIC_ACTION,
            PlanStep.atom_id.in_(action_ids),
            Plan.deleted_at.is_(None),
        )
        .order_by(Plan.id, PlanStep.execute_order)
    )
    return [
        {"plan_id": plan_id, "plan": plan, "step": f"{order}. {step}", "action": code}
        for plan_id, plan, order, step, code in rows
    ]


def refresh_visibility(session: Session) -> list[str]:
    """Re-apply the visibility rule to stored actions (after a config change); return changes."""
    config_keys = existing_config_keys(session)
    changed = []
    for row in session.scalars(select(PlanAction).where(PlanAction.retired_at.is_(None))):
        visible, reason = visibility(row.declared_visible, row.depends_on_configs, config_keys)
        if (row.user_visible, row.invisible_reason) != (visible, reason):
            row.user_visible, row.invisible_reason = visible, reason
            changed.append(row.code)
    session.flush()
    return changed
