"""The catalog as users see it (what the database holds), shared by the CLI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nightwatch.errors import NightwatchError
from storage.models import PlanAction, PlanActionParam


class CatalogNotSynced(NightwatchError):
    pass


def _param_dict(row: PlanActionParam) -> dict[str, Any]:
    return {
        "name": row.name,
        "display_name": row.display_name,
        "description": row.description,
        "type": row.type,
        "required": row.required,
        "default": row.default["value"] if row.default else None,
        "secret": row.secret,
        "display_order": row.display_order,
        "validation": row.validation,
        "option_source": row.option_source,
        "option_filter": row.option_filter,
        "retired_in_version": row.retired_in_version,
    }


def _action_dict(row: PlanAction, params: list[PlanActionParam]) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "category": row.category,
        "scenes": row.scenes,
        "user_visible": row.user_visible,
        "invisible_reason": row.invisible_reason,
        "display_order": row.display_order,
        "depends_on_configs": row.depends_on_configs,
        "activity": row.activity,
        "retired_in_version": row.retired_in_version,
        "params": [_param_dict(p) for p in params],
    }


def load_actions(session: Session, *, include_retired: bool) -> list[dict[str, Any]]:
    query = select(PlanAction).order_by(PlanAction.display_order, PlanAction.code)
    if not include_retired:
        query = query.where(PlanAction.retired_at.is_(None))
    actions = list(session.scalars(query))
    if not actions and not include_retired:
        raise CatalogNotSynced(
            "catalog",
            "the database holds no actions yet: start a worker or run `nightwatch init run`",
        )
    params: dict[int, list[PlanActionParam]] = {}
    rows = session.scalars(select(PlanActionParam).order_by(PlanActionParam.display_order))
    for param in rows:
        params.setdefault(param.action_id, []).append(param)
    return [_action_dict(action, params.get(action.id, [])) for action in actions]
