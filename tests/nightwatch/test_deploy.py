"""The production example settings load as production settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nightwatch.config import load_settings

EXAMPLE = Path(__file__).parents[2] / "deploy" / "nightwatch.example.toml"


def test_example_config_is_production_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NIGHTWATCH_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("NIGHTWATCH_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nightwatch:pw@db.bank:5432/nightwatch")
    settings = load_settings()
    assert settings.env == "production"
    assert settings.effective_log_format == "json"
    assert settings.temporal_namespace == "nightwatch"
    assert settings.effective_temporal_address.endswith(":7233")
