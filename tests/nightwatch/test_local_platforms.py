"""The local stack points unset platform settings at the simulator; never in production."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import select, update

from nightwatch.config import load_settings
from stack.local_platforms import configure_local_platforms
from storage.db import session_factory
from storage.models import SystemConfig


def _unset(db: str, key: str) -> None:
    with session_factory(db)() as session:
        session.execute(update(SystemConfig).where(SystemConfig.key == key).values(value=None))
        session.commit()


def _values(db: str) -> dict[str, Any]:
    with session_factory(db)() as session:
        rows = session.scalars(select(SystemConfig)).all()
    return {row.key: row.value["value"] if row.value else None for row in rows}


def test_unset_platform_settings_point_at_the_simulator_and_set_ones_stay(
    catalog_db: str,
) -> None:
    with session_factory(catalog_db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "platform.iam.base_url")
            .values(value={"value": "https://iam.bank.example/"})
        )
        session.commit()
    _unset(catalog_db, "platform.middleware.base_url")
    said: list[str] = []
    settings = load_settings(database_url=catalog_db, env="development")
    configure_local_platforms(settings, "http://127.0.0.1:8090", "tok", said.append)
    values = _values(catalog_db)
    assert values["platform.middleware.base_url"] == "http://127.0.0.1:8090/"
    assert values["platform.iam.base_url"] == "https://iam.bank.example/"
    assert values["platform.dap.token"] == "tok"
    assert values["scale_out.poll_interval_seconds"] == 2.0
    assert len(said) == 1 and said[0].endswith("platform settings point at the simulator")


def test_production_settings_are_never_pointed_at_the_simulator(catalog_db: str) -> None:
    _unset(catalog_db, "platform.middleware.base_url")
    settings = load_settings(
        database_url=catalog_db,
        env="production",
        temporal_address="127.0.0.1:7233",
        payload_keys=f"k1:{'A' * 43}=",
    )
    configure_local_platforms(settings, "http://127.0.0.1:8090", "tok", print)
    values = _values(catalog_db)
    assert values["platform.middleware.base_url"] is None
    assert values["platform.dap.token"] is None
    assert values["scale_out.poll_interval_seconds"] == 10


def test_the_simulator_refuses_to_run_in_production(catalog_db: str) -> None:
    env = {
        **os.environ,
        "NIGHTWATCH_ENV": "production",
        "NIGHTWATCH_DATABASE_URL": catalog_db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "NIGHTWATCH_PAYLOAD_KEYS": f"k1:{'A' * 43}=",
    }
    done = subprocess.run(
        [sys.executable, "-m", "nightwatch", "simulator", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "NIGHTWATCH_ENV: the simulator does not run in production" in done.stderr
