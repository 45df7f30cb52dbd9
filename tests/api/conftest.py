"""The simulator and the plan API, each served over real HTTP on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from api.app import create_app
from catalog.sync import refresh_visibility
from nightwatch.config import load_settings
from storage.db import session_factory
from storage.models import SystemConfig
from tests.support import serve


@pytest.fixture
def api(catalog_db: str, simulator_url: str) -> Iterator[httpx.Client]:
    with session_factory(catalog_db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "platform.dap.base_url")
            .values(value={"value": simulator_url})
        )
        refresh_visibility(session)
        session.commit()
    app = create_app(load_settings(database_url=catalog_db))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
