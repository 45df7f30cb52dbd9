"""Initialise `system_config` and `feature_switch` from their declarations in code.

Creates missing rows (configs with a default get it, others stay unset), keeps
descriptions and types current, never overwrites a value an operator set, and retires
rows the code no longer declares. Rows last written by a newer server are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.feature_switches import SwitchSpec
from catalog.system_config import ConfigSpec
from catalog.versions import is_newer
from storage.models import FeatureSwitch, SystemConfig


def _boxed(value: Any) -> dict[str, Any] | None:
    """JSONB columns hold {"value": …} so that null, lists and scalars all fit."""
    return None if value is None else {"value": value}


def _retire_undeclared(
    rows: dict[str, SystemConfig] | dict[str, FeatureSwitch], declared: set[str], version: str
) -> list[str]:
    """Mark rows the code no longer declares as retired (never deleted)."""
    retired = []
    for name, row in rows.items():
        if name in declared or row.retired_at is not None:
            continue
        if not is_newer(row.synced_by_version, version):
            row.retired_at, row.retired_in_version = datetime.now(UTC), version
            retired.append(name)
    return retired


def sync_system_config(
    session: Session, specs: Sequence[ConfigSpec], version: str
) -> dict[str, list[str]]:
    rows = {row.key: row for row in session.scalars(select(SystemConfig))}
    created: list[str] = []
    updated: list[str] = []
    for spec in specs:
        row = rows.get(spec.key)
        meta: dict[str, Any] = {
            "value_type": spec.value_type,
            "description": spec.description,
            "default": _boxed(spec.default) if spec.has_default else None,
        }
        if row is None:
            value = _boxed(spec.default) if spec.has_default else None
            session.add(SystemConfig(key=spec.key, value=value, synced_by_version=version, **meta))
            created.append(spec.key)
        elif is_newer(row.synced_by_version, version):
            continue
        elif row.retired_at is not None or any(getattr(row, k) != v for k, v in meta.items()):
            for key, value in meta.items():
                setattr(row, key, value)
            row.retired_at = row.retired_in_version = None
            row.synced_by_version = version
            updated.append(spec.key)
    retired = _retire_undeclared(rows, {spec.key for spec in specs}, version)
    session.flush()
    return {"created": created, "updated": updated, "retired": retired}


def sync_feature_switches(
    session: Session, specs: Sequence[SwitchSpec], version: str
) -> dict[str, list[str]]:
    rows = {row.name: row for row in session.scalars(select(FeatureSwitch))}
    created: list[str] = []
    updated: list[str] = []
    for spec in specs:
        row = rows.get(spec.name)
        if row is None:
            session.add(
                FeatureSwitch(
                    name=spec.name,
                    enabled=spec.default,
                    description=spec.description,
                    synced_by_version=version,
                )
            )
            created.append(spec.name)
        elif is_newer(row.synced_by_version, version):
            continue
        elif row.description != spec.description or row.retired_at is not None:
            row.description = spec.description
            row.retired_at = row.retired_in_version = None
            row.synced_by_version = version
            updated.append(spec.name)
    retired = _retire_undeclared(rows, {spec.name for spec in specs}, version)
    session.flush()
    return {"created": created, "updated": updated, "retired": retired}
