"""Plan tests work in a session on `catalog_db` (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import session_factory
from storage.models import Plan, PlanStep


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
