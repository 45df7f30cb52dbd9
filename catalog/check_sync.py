"""Sync the check kinds declared in code into `inspection_check_kind`, as actions are synced.

New kinds are created, changed ones updated, nothing written when nothing changed; kinds
that left the code are retired, never deleted (inspection plans name them). A kind whose
platform is not configured stays hidden, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from catalog.checks import CheckSpec
from catalog.sync import CATALOG_LOCK_KEY, SyncReport, existing_config_keys, visibility
from catalog.versions import is_newer
from nightwatch.logs import get_logger
from storage.models import CheckKind

log = get_logger("nightwatch.catalog.sync")


def _values(spec: CheckSpec, version: str, visible: bool, reason: str | None) -> dict[str, Any]:
    return {
        "code": spec.code,
        "name": spec.name,
        "category": str(spec.category),
        "display_order": spec.display_order,
        "definition": spec.definition(),
        "definition_hash": spec.definition_hash,
        "user_visible": visible,
        "invisible_reason": reason,
        "synced_by_version": version,
        "retired_at": None,
    }


def sync_check_kinds(session: Session, checks: Sequence[CheckSpec], version: str) -> SyncReport:
    """Bring `inspection_check_kind` in line with `checks`; the caller commits."""
    session.execute(text("select pg_advisory_xact_lock(:key)"), {"key": CATALOG_LOCK_KEY})
    report = SyncReport()
    config_keys = existing_config_keys(session)
    rows = {row.code: row for row in session.scalars(select(CheckKind))}
    for spec in checks:
        visible, reason = visibility(True, spec.depends_on_configs, config_keys)
        if not visible:
            report.hidden[spec.code] = reason or ""
        row = rows.get(spec.code)
        values = _values(spec, version, visible, reason)
        if row is None:
            session.execute(insert(CheckKind), [values])
            report.created.append(spec.code)
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
            session.execute(update(CheckKind).where(CheckKind.id == row.id).values(**values))
            report.updated.append(spec.code)
    declared = {spec.code for spec in checks}
    now = datetime.now(UTC)
    for code, row in rows.items():
        if code in declared or row.retired_at is not None:
            continue
        if is_newer(row.synced_by_version, version):
            continue
        row.retired_at, row.user_visible = now, False
        row.invisible_reason, row.synced_by_version = f"retired in {version}", version
        report.retired.append(code)
    session.flush()
    if report.wrote:
        log.info(
            "check kinds synced",
            version=version,
            created=len(report.created),
            updated=len(report.updated),
            retired=report.retired,
        )
    return report


def refresh_check_visibility(session: Session) -> list[str]:
    """Re-apply the visibility rule after a config change; return the codes that changed."""
    config_keys = existing_config_keys(session)
    changed = []
    for row in session.scalars(select(CheckKind).where(CheckKind.retired_at.is_(None))):
        visible, reason = visibility(True, row.definition["depends_on_configs"], config_keys)
        if (row.user_visible, row.invisible_reason) != (visible, reason):
            row.user_visible, row.invisible_reason = visible, reason
            changed.append(row.code)
    session.flush()
    return changed


def load_check_kinds(session: Session, include_retired: bool = False) -> list[dict[str, Any]]:
    """Check kinds as the database holds them, in display order."""
    query = select(CheckKind).order_by(CheckKind.display_order, CheckKind.code)
    if not include_retired:
        query = query.where(CheckKind.retired_at.is_(None))
    return [
        {
            **row.definition,
            "user_visible": row.user_visible,
            "invisible_reason": row.invisible_reason,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
        }
        for row in session.scalars(query)
    ]
