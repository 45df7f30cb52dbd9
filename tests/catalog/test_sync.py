"""Catalog sync: what the code declares is what the tables hold, written once, never deleted."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from catalog.actions import ACTIONS, WaitParams
from catalog.params import ActionParams, param
from catalog.registry import ACTIONS_BY_CODE
from catalog.spec import ActionSpec
from catalog.sync import plans_using, refresh_visibility, sync_catalog
from storage.db import engine, session_factory
from storage.enums import ActionCategory, PlanType, Scene, StepType
from storage.models import Plan, PlanAction, PlanActionParam, PlanStep, SystemConfig


def _sync(url: str, actions: tuple[ActionSpec, ...] = ACTIONS, version: str = "1.0.0") -> Any:
    with session_factory(url)() as session:
        report = sync_catalog(session, actions, version)
        session.commit()
    return report


def _ids(url: str) -> dict[str, int]:
    with session_factory(url)() as session:
        rows = session.execute(select(PlanAction.code, PlanAction.id)).all()
        return {code: action_id for code, action_id in rows}


@contextmanager
def _statements(url: str) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine(url), "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine(url), "before_cursor_execute", record)


def test_first_sync_writes_every_declared_action_and_parameter(db_url: str) -> None:
    report = _sync(db_url)
    assert sorted(report.created) == sorted(spec.code for spec in ACTIONS)
    with session_factory(db_url)() as session:
        actions = {row.code: row for row in session.scalars(select(PlanAction))}
        params = session.scalars(select(PlanActionParam)).all()
    assert len(params) == sum(len(spec.param_infos) for spec in ACTIONS)
    scale_out = actions["APP_SCALE_OUT"]
    assert (scale_out.category, scale_out.activity) == ("APPLICATION", "scale_out")
    assert scale_out.scenes == ["EMERGENCY", "SELF_RECOVERY", "RECOVERY"]
    assert actions["MANUAL_STEP"].scenes == ["EMERGENCY", "RECOVERY"]


def test_parameter_metadata_round_trips_into_the_table(db_url: str) -> None:
    _sync(db_url)
    with session_factory(db_url)() as session:
        for spec in ACTIONS:
            action_id = session.scalar(select(PlanAction.id).where(PlanAction.code == spec.code))
            rows = session.scalars(
                select(PlanActionParam)
                .where(PlanActionParam.action_id == action_id)
                .order_by(PlanActionParam.display_order)
            ).all()
            stored = [
                {
                    "name": r.name,
                    "display_name": r.display_name,
                    "description": r.description,
                    "type": r.type,
                    "required": r.required,
                    "secret": r.secret,
                    "default": r.default["value"] if r.default else None,
                    "display_order": r.display_order,
                    "validation": r.validation,
                    "option_source": r.option_source,
                    "option_filter": r.option_filter,
                }
                for r in rows
            ]
            declared = [info.model_dump(mode="json") for info in spec.param_infos]
            assert stored == declared, spec.code
    restart = ACTIONS_BY_CODE["CONTAINER_INSTANCE_RESTART"].param_infos[1]
    assert (restart.option_source, restart.option_filter) == ("container_instances", "RUNNING")
    assert restart.validation == {"options_depend_on": ["app"]}
    assert not restart.required
    token = next(i for i in ACTIONS_BY_CODE["HTTP_CALL"].param_infos if i.name == "bearer_token")
    assert token.secret


def test_second_sync_writes_nothing(db_url: str) -> None:
    _sync(db_url)
    with engine(db_url).connect() as conn:
        before = conn.execute(text("select code, xmin::text from pre_plan_action")).all()
    with _statements(db_url) as statements:
        report = _sync(db_url)
    assert not report.wrote
    assert report.unchanged == len(ACTIONS)
    assert not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
    with engine(db_url).connect() as conn:
        after = conn.execute(text("select code, xmin::text from pre_plan_action")).all()
    assert sorted(before) == sorted(after)


def test_action_is_hidden_until_its_config_exists_and_sync_runs_again(db_url: str) -> None:
    _sync(db_url)
    with session_factory(db_url)() as session:
        iam = session.scalar(select(PlanAction).where(PlanAction.code == "IAM_DEGRADE"))
        assert iam is not None
        assert not iam.user_visible
        assert iam.invisible_reason == "needs system config platform.iam.base_url (not set)"
        session.add(
            SystemConfig(
                key="platform.iam.base_url", value={"value": "http://iam"}, value_type="string"
            )
        )
        session.commit()
    report = _sync(db_url, version="1.0.1")
    assert "IAM_DEGRADE" in report.updated
    with session_factory(db_url)() as session:
        iam = session.scalar(select(PlanAction).where(PlanAction.code == "IAM_DEGRADE"))
        assert iam is not None
        assert (iam.user_visible, iam.invisible_reason) == (True, None)


def test_config_change_refreshes_visibility_without_a_full_sync(db_url: str) -> None:
    _sync(db_url)
    with session_factory(db_url)() as session:
        session.add(
            SystemConfig(
                key="platform.dap.base_url", value={"value": "http://dap"}, value_type="string"
            )
        )
        changed = refresh_visibility(session)
        session.commit()
    assert set(changed) == {
        "APP_SCALE_OUT",
        "APP_SCALE_IN",
        "CONTAINER_INSTANCE_RESTART",
        "CONTAINER_INSTANCE_REBUILD",
        "CONTAINER_INSTANCE_DIAGNOSE",
    }


def test_hidden_by_declaration_stays_hidden(db_url: str) -> None:
    hidden = dataclasses.replace(ACTIONS_BY_CODE["WAIT"], user_visible=False)
    _sync(db_url, (hidden,))
    with session_factory(db_url)() as session:
        row = session.scalar(select(PlanAction).where(PlanAction.code == "WAIT"))
        assert row is not None
        assert (row.user_visible, row.invisible_reason) == (
            False,
            "hidden by its declaration in code",
        )


def _plan_using(session: Session, action_id: int) -> None:
    plan = Plan(name="drain node", scene=Scene.EMERGENCY, type=PlanType.MAIN, atomic=True)
    session.add(plan)
    session.flush()
    session.add(
        PlanStep(
            plan_id=plan.id,
            name="pause",
            type=StepType.ATOMIC_ACTION,
            atom_id=action_id,
            execute_order=1,
            execute_strategy={},
            execute_context={"seconds": 5},
        )
    )
    session.commit()


def test_removed_action_is_retired_not_deleted_and_keeps_its_id(db_url: str) -> None:
    _sync(db_url)
    ids = _ids(db_url)
    with session_factory(db_url)() as session:
        _plan_using(session, ids["WAIT"])
    without_wait = tuple(spec for spec in ACTIONS if spec.code != "WAIT")
    report = _sync(db_url, without_wait, version="2.0.0")
    assert report.retired == ["WAIT"]
    with session_factory(db_url)() as session:
        wait = session.scalar(select(PlanAction).where(PlanAction.code == "WAIT"))
        assert wait is not None
        assert wait.retired_at is not None
        assert wait.retired_in_version == "2.0.0"
        assert not wait.user_visible
        uses = plans_using(session, [wait.id])
        params = session.scalars(
            select(PlanActionParam).where(PlanActionParam.action_id == wait.id)
        ).all()
    assert uses == [
        {"plan_id": uses[0]["plan_id"], "plan": "drain node", "step": "1. pause", "action": "WAIT"}
    ]
    assert len(params) == 2
    # The action comes back in a later version: same row, same id.
    _sync(db_url, ACTIONS, version="2.1.0")
    assert _ids(db_url) == ids
    with session_factory(db_url)() as session:
        wait = session.scalar(select(PlanAction).where(PlanAction.code == "WAIT"))
        assert wait is not None
        assert wait.retired_at is None


class WaitV2(ActionParams):
    seconds: int = param("Seconds", "How long to wait", order=1, ge=1, le=3600)


def test_removed_parameter_is_retired_and_changed_one_updated(db_url: str) -> None:
    _sync(db_url)
    wait_v2 = dataclasses.replace(ACTIONS_BY_CODE["WAIT"], params=WaitV2)
    _sync(db_url, (*[s for s in ACTIONS if s.code != "WAIT"], wait_v2), version="2.0.0")
    with session_factory(db_url)() as session:
        rows = {
            row.name: row
            for row in session.scalars(
                select(PlanActionParam)
                .join(PlanAction, PlanAction.id == PlanActionParam.action_id)
                .where(PlanAction.code == "WAIT")
            )
        }
    assert rows["reason"].retired_in_version == "2.0.0"
    assert rows["seconds"].validation == {"min": 1, "max": 3600}
    assert rows["seconds"].retired_at is None


def test_ids_are_stable_across_many_syncs_and_versions(db_url: str) -> None:
    _sync(db_url)
    ids = _ids(db_url)
    for version in ("1.0.1", "1.1.0", "2.0.0"):
        _sync(db_url, version=version)
    assert _ids(db_url) == ids


# -- rolling upgrade: version N and N+1 share one database --------------------------------


class NewParams(ActionParams):
    target: str = param("Target", "What to flush", order=1)


FLUSH = ActionSpec(
    "CACHE_FLUSH", "Flush cache", "New in N+1", ActionCategory.DATA, NewParams, "cache_flush"
)
OLD = ACTIONS  # version N
NEW = (
    *[s for s in ACTIONS if s.code != "HTTP_CALL"],  # N+1 drops HTTP_CALL, adds CACHE_FLUSH,
    FLUSH,  # and changes WAIT's description
)
NEW = tuple(
    dataclasses.replace(s, description="Waits (durable)") if s.code == "WAIT" else s for s in NEW
)


def _state(url: str) -> dict[str, tuple[str | None, bool]]:
    with session_factory(url)() as session:
        rows = session.execute(
            select(PlanAction.code, PlanAction.description, PlanAction.retired_at)
        ).all()
    return {code: (description, retired is not None) for code, description, retired in rows}


def _old_server_still_works(url: str) -> None:
    """What a running version-N server does with the catalog: read its actions by id."""
    with session_factory(url)() as session:
        rows = session.execute(select(PlanAction.code, PlanAction.id)).all()
        session.get(PlanAction, dict(rows)["WAIT"])
        assert session.scalar(select(PlanAction.param_model).where(PlanAction.code == "WAIT")) == (
            f"{WaitParams.__module__}.WaitParams"
        )


def test_newer_server_syncing_after_older_does_not_break_it(db_url: str) -> None:
    _sync(db_url, OLD, "1.0.0")
    ids = _ids(db_url)
    _sync(db_url, NEW, "1.1.0")
    _old_server_still_works(db_url)
    state = _state(db_url)
    assert state["HTTP_CALL"] == (ACTIONS_BY_CODE["HTTP_CALL"].description, True)
    assert state["WAIT"] == ("Waits (durable)", False)
    assert {code: _ids(db_url)[code] for code in ids} == ids
    # N restarts later (same database): it must not undo N+1's catalog.
    report = _sync(db_url, OLD, "1.0.0")
    assert report.retired == []
    assert not report.created
    assert set(report.left_to_newer) >= {"WAIT"}
    assert _state(db_url) == state


def test_older_server_syncing_after_newer_changes_nothing_of_it(db_url: str) -> None:
    _sync(db_url, NEW, "1.1.0")
    state = _state(db_url)
    report = _sync(db_url, OLD, "1.0.0")
    assert "CACHE_FLUSH" not in report.retired
    assert _state(db_url)["CACHE_FLUSH"] == ("New in N+1", False)
    assert _state(db_url)["WAIT"] == state["WAIT"]
    _old_server_still_works(db_url)
