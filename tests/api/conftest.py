"""The simulator and the plan API, each served over real HTTP on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from nightwatch.config import load_settings
from tests.support import serve


@pytest.fixture
def api(engine_db: str) -> Iterator[httpx.Client]:
    """The plan API over a database whose platforms are the simulator."""
    app = create_app(load_settings(database_url=engine_db))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
