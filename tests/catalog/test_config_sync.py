"""System config and feature switches: created from code, never overwriting an operator's value."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from catalog.config_sync import sync_feature_switches, sync_system_config
from catalog.feature_switches import FEATURE_SWITCHES
from catalog.system_config import CONFIGS_BY_KEY, SYSTEM_CONFIGS, ConfigValueError
from storage.db import session_factory
from storage.models import FeatureSwitch, SystemConfig


def _configs(url: str) -> dict[str, SystemConfig]:
    with session_factory(url)() as session:
        return {row.key: row for row in session.scalars(select(SystemConfig))}


def test_defaults_are_created_and_keys_without_one_stay_unset(db_url: str) -> None:
    with session_factory(db_url)() as session:
        sync_system_config(session, SYSTEM_CONFIGS, "1.0.0")
        session.commit()
    rows = _configs(db_url)
    assert rows["scale_out.poll_interval_seconds"].value == {"value": 10}
    assert rows["platform.iam.base_url"].value is None
    assert rows["notification.webhooks"].value_type == "entries"


def test_operator_value_survives_redeployments(db_url: str) -> None:
    with session_factory(db_url)() as session:
        sync_system_config(session, SYSTEM_CONFIGS, "1.0.0")
        session.commit()
        row = session.scalar(
            select(SystemConfig).where(SystemConfig.key == "scale_out.poll_interval_seconds")
        )
        assert row is not None
        row.value = {"value": 3}
        session.commit()
    changed = tuple(
        dataclasses.replace(spec, description="new text", default=20)
        if spec.key == "scale_out.poll_interval_seconds"
        else spec
        for spec in SYSTEM_CONFIGS
    )
    with session_factory(db_url)() as session:
        report = sync_system_config(session, changed, "1.1.0")
        session.commit()
    assert report["updated"] == ["scale_out.poll_interval_seconds"]
    row = _configs(db_url)["scale_out.poll_interval_seconds"]
    assert (row.value, row.default, row.description) == ({"value": 3}, {"value": 20}, "new text")


def test_unused_config_items_are_retired_not_deleted(db_url: str) -> None:
    with session_factory(db_url)() as session:
        sync_system_config(session, SYSTEM_CONFIGS, "1.0.0")
        report = sync_system_config(
            session, [s for s in SYSTEM_CONFIGS if s.key != "scale_out.max_wait_minutes"], "1.1.0"
        )
        session.commit()
    assert report["retired"] == ["scale_out.max_wait_minutes"]
    assert _configs(db_url)["scale_out.max_wait_minutes"].retired_in_version == "1.1.0"


def test_switch_toggled_by_an_operator_is_not_reset(db_url: str) -> None:
    with session_factory(db_url)() as session:
        sync_feature_switches(session, FEATURE_SWITCHES, "1.0.0")
        session.commit()
        switch = session.scalar(
            select(FeatureSwitch).where(FeatureSwitch.name == "alerts.auto_start_self_recovery")
        )
        assert switch is not None and switch.enabled
        switch.enabled = False
        session.commit()
        report = sync_feature_switches(session, FEATURE_SWITCHES, "1.1.0")
        session.commit()
        assert report == {"created": [], "updated": [], "retired": []}
        session.refresh(switch)
        assert not switch.enabled


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("scale_out.poll_interval_seconds", "ten", "scale_out.poll_interval_seconds"),
        ("platform.dap.base_url", "not a url", "platform.dap.base_url"),
        (
            "notification.webhooks",
            [{"name": "ops", "url": "ftp:/x"}],
            "notification.webhooks.0.url",
        ),
        ("notification.webhooks", {"ops": "http://x"}, "notification.webhooks"),
    ],
)
def test_wrong_config_values_name_the_field(key: str, value: object, path: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        CONFIGS_BY_KEY[key].parse(value)
    assert caught.value.path == path


def test_structured_values_are_lists_of_entries() -> None:
    parsed = CONFIGS_BY_KEY["notification.webhooks"].parse(
        [{"name": "ops", "url": "https://chat.bank/hook", "kind": "wecom"}]
    )
    assert parsed == [{"name": "ops", "url": "https://chat.bank/hook", "kind": "wecom"}]
