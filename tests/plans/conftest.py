"""A database whose catalog is synced and whose platform configs are set (all actions usable)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from catalog.sync import refresh_visibility
from nightwatch.init_tasks import INIT_TASKS
from nightwatch.initialisation import InitContext, run_tasks
from storage.db import session_factory
from storage.models import Plan, PlanStep, SystemConfig

CONFIGURED = {
    "platform.dap.base_url": "http://dap.local",
    "platform.middleware.base_url": "http://mw.local",
    "platform.gateway.base_url": "http://gw.local",
    "platform.iam.base_url": "http://iam.local",
    "platform.product.base_url": "http://product.local",
    "notification.webhooks": [{"name": "ops", "url": "http://chat.local/hook"}],
}


@pytest.fixture
def catalog_db(db_url: str) -> str:
    run_tasks(db_url, INIT_TASKS, InitContext("0.1.0", "test", "test:1"))
    with session_factory(db_url)() as session:
        for key, value in CONFIGURED.items():
            session.execute(
                update(SystemConfig).where(SystemConfig.key == key).values(value={"value": value})
            )
        refresh_visibility(session)
        session.commit()
    return db_url


@pytest.fixture
def session(catalog_db: str) -> Iterator[Session]:
    with session_factory(catalog_db)() as session:
        yield session


def counts(session: Session) -> tuple[int, int]:
    """(plan rows, step rows), live ones only."""
    plans = session.scalar(select(func.count()).select_from(Plan).where(Plan.deleted_at.is_(None)))
    steps = session.scalar(
        select(func.count()).select_from(PlanStep).where(PlanStep.deleted_at.is_(None))
    )
    return plans or 0, steps or 0
