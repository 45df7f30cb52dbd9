"""The production example settings load as production settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nightwatch.codec import KeyRing, write_key_file
from nightwatch.config import load_settings

EXAMPLE = Path(__file__).parents[2] / "deploy" / "nightwatch.example.toml"


def test_example_config_is_production_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in list(os.environ):
        if key.startswith("NIGHTWATCH_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("NIGHTWATCH_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nightwatch:pw@db.bank:5432/nightwatch")
    # Production encrypts payloads: the file the example names is a mounted secret.
    keys = tmp_path / "payload-keys.json"
    write_key_file(keys, KeyRing.parse([f"2026-11:{KeyRing.new_key()}"], source="test"))
    monkeypatch.setenv("NIGHTWATCH_PAYLOAD_KEY_FILE", str(keys))
    settings = load_settings()
    assert settings.encrypts_payloads
    assert settings.env == "production"
    assert settings.effective_log_format == "json"
    assert settings.temporal_namespace == "nightwatch"
    assert settings.effective_temporal_address.endswith(":7233")
