"""The migration chain is the schema: it builds what the models say, safely and additively."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from nightwatch.errors import DatabaseError
from storage import migrate
from storage.db import engine, session_factory
from storage.models import Base, FeatureSwitch
from tests.support import create_database, drop_database, free_port, server_major_version

DOMAIN_TABLES = {
    "pre_plan_action",
    "pre_plan_action_param",
    "pre_plan",
    "pre_plan_step",
    "pre_plan_execute_order",
    "pre_plan_execute_node",
    "system_config",
    "feature_switch",
    "init_task_run",
    "alert_rule",
    "risk_event",
    "history_archive",
    "web_session",
    "account",
    "api_token",
    "inspection_check_kind",
    "inspection_plan",
    "inspection_run",
    "inspection_result",
    "inspection_state",
    "risk_event_run",
    "risk_event_entry",
}


def test_migrations_from_empty_build_exactly_the_models_schema(
    any_pg_server: tuple[str, int],
) -> None:
    server, major = any_pg_server
    url = create_database(server)
    try:
        assert server_major_version(url) == major
        result = migrate.upgrade(url)
        assert (result.before, result.after) == (None, migrate.head_revision())
        with engine(url).connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        assert differences == [], f"models and migrations disagree: {differences}"
        assert tables == DOMAIN_TABLES | {"alembic_version"}
    finally:
        engine(url).dispose()
        drop_database(url)


def test_second_upgrade_changes_nothing(db_url: str) -> None:
    result = migrate.upgrade(db_url)
    assert not result.changed
    assert result.after == migrate.head_revision()


def test_concurrent_upgrades_from_empty_all_succeed_once(empty_db_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate.upgrade(empty_db_url), range(4)))
    assert sum(result.changed for result in results) == 1
    assert {result.after for result in results} == {migrate.head_revision()}
    with engine(empty_db_url).connect() as conn:
        versions = conn.execute(text("select version_num from alembic_version")).all()
    assert len(versions) == 1


def test_concurrent_upgrade_processes_from_empty_all_succeed(empty_db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db_url}
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "nightwatch", "db", "upgrade", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [command.communicate(timeout=120) for command in commands]
    assert [command.returncode for command in commands] == [0, 0, 0], outputs
    reports = [json.loads(out) for out, _ in outputs]
    assert sorted(report["before"] is None for report in reports) == [False, False, True]
    assert {report["after"] for report in reports} == {migrate.head_revision()}


def test_older_server_keeps_working_on_a_newer_schema(db_url: str) -> None:
    # What a newer release may do: add a table, add a nullable column, move the revision on.
    with engine(db_url).begin() as conn:
        conn.execute(text("create table future_dashboard (id bigint primary key)"))
        conn.execute(text("alter table feature_switch add column owner varchar(64)"))
        conn.execute(text("update alembic_version set version_num = '9999_from_the_future'"))
    result = migrate.upgrade(db_url)
    assert result.newer_schema
    assert result.after == "9999_from_the_future"
    with session_factory(db_url)() as session:
        session.add(FeatureSwitch(name="still-works", enabled=True))
        session.commit()
        names = session.scalars(select(FeatureSwitch.name)).all()
    assert names == ["still-works"]


def test_unreachable_database_is_one_clear_line_without_password() -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nightwatch"
    with pytest.raises(DatabaseError) as caught:
        migrate.upgrade(url)
    message = str(caught.value)
    assert "cannot reach the database" in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_timestamps_have_time_zones_and_enumerations_are_strings(db_url: str) -> None:
    with engine(db_url).connect() as conn:
        columns = conn.execute(
            text(
                "select table_name, column_name, data_type from information_schema.columns"
                " where table_schema = 'public'"
            )
        ).all()
        enum_types = conn.execute(text("select count(*) from pg_type where typtype = 'e'"))
        assert enum_types.scalar_one() == 0
    kinds = {(table, column): kind for table, column, kind in columns}
    timestamps = {key: kind for key, kind in kinds.items() if "timestamp" in kind}
    assert timestamps and set(timestamps.values()) == {"timestamp with time zone"}
    for key in [("pre_plan", "scene"), ("pre_plan", "type"), ("pre_plan_execute_node", "state")]:
        assert kinds[key] == "character varying"
    for key in [("pre_plan_step", "execute_strategy"), ("pre_plan_step", "execute_context")]:
        assert kinds[key] == "jsonb"
