"""The simulator and the plan API, each served over real HTTP on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from nightwatch.config import load_settings
from tests.support import bearer, serve, token_for

EVERY_ROLE = ["viewer", "operator", "approver", "admin"]


@pytest.fixture
def api_url(engine_db: str) -> Iterator[str]:
    """The API over a database whose platforms are the simulator."""
    with serve(create_app(load_settings(database_url=engine_db))) as url:
        yield url


@pytest.fixture
def api(api_url: str, engine_db: str) -> Iterator[httpx.Client]:
    """A client of the API signed in (by an API token) as li.wei, who has every role."""
    headers = bearer(token_for(engine_db, "li.wei", EVERY_ROLE))
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client:
        yield client


@pytest.fixture
def anonymous(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client
