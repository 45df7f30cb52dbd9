"""Registering our search attributes on a namespace that lacks them, twice."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from nightwatch.search_attributes import register_search_attributes
from nightwatch.temporal import SEARCH_ATTRIBUTES, data_converter
from tests.support import binary


async def test_register_adds_what_is_missing_and_is_idempotent() -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(), dev_server_existing_path=binary("temporal")
    )
    try:
        added = await register_search_attributes(env.client)
        again = await register_search_attributes(env.client)
    finally:
        await env.shutdown()
    assert sorted(added) == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert again == []


async def test_dev_env_fixture_already_has_them(dev_env: WorkflowEnvironment) -> None:
    assert await register_search_attributes(dev_env.client) == []
