"""The initialisation tasks every server runs at start-up, before it registers with Temporal."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from catalog.actions import ACTIONS
from catalog.check_sync import sync_check_kinds
from catalog.checks import CHECKS
from catalog.config_sync import sync_feature_switches, sync_system_config
from catalog.feature_switches import FEATURE_SWITCHES
from catalog.sync import sync_catalog
from catalog.system_config import SYSTEM_CONFIGS
from runtime.initialisation import InitContext, InitError, InitTask
from storage.enums import InitStrategy
from storage.models import SystemConfig

INSTALLATION_KEY = "installation.id"
MIN_POSTGRES = 15


def installation_id(session: Session, context: InitContext) -> dict[str, Any]:
    """Give this database a permanent id (reports and archives name it)."""
    existing = session.scalar(select(SystemConfig).where(SystemConfig.key == INSTALLATION_KEY))
    if existing is None:
        existing = SystemConfig(
            key=INSTALLATION_KEY,
            value={"value": str(uuid.uuid4())},
            value_type="string",
            description="Permanent id of this Nightwatch installation",
            synced_by_version=context.version,
        )
        session.add(existing)
        session.flush()
    assert existing.value is not None
    return {"installation_id": existing.value["value"]}


def system_config(session: Session, context: InitContext) -> dict[str, Any]:
    return sync_system_config(session, SYSTEM_CONFIGS, context.version)


def feature_switches(session: Session, context: InitContext) -> dict[str, Any]:
    return sync_feature_switches(session, FEATURE_SWITCHES, context.version)


def action_catalog(session: Session, context: InitContext) -> dict[str, Any]:
    return sync_catalog(session, ACTIONS, context.version).summary()


def check_kinds(session: Session, context: InitContext) -> dict[str, Any]:
    return sync_check_kinds(session, CHECKS, context.version).summary()


def database_check(session: Session, context: InitContext) -> dict[str, Any]:
    """Each server checks the database it is about to use."""
    version_num = int(session.execute(text("show server_version_num")).scalar_one())
    encoding = session.execute(text("show server_encoding")).scalar_one()
    if version_num // 10000 < MIN_POSTGRES:
        raise InitError("database", f"PostgreSQL {MIN_POSTGRES} or newer is required")
    if encoding != "UTF8":
        raise InitError("database", f"encoding must be UTF8, not {encoding}")
    return {"postgres": version_num, "encoding": encoding, "server": context.server}


S = InitStrategy
# Order matters: the catalog's visibility rule reads the system config.
INIT_TASKS: tuple[InitTask, ...] = (
    InitTask("installation_id", S.ONCE_EVER, installation_id, "permanent id of the database"),
    InitTask("system_config", S.ONCE_PER_DEPLOYMENT, system_config, "system-config keys"),
    InitTask("feature_switches", S.ONCE_PER_DEPLOYMENT, feature_switches, "feature switches"),
    InitTask("action_catalog", S.ONCE_PER_DEPLOYMENT, action_catalog, "action catalog sync"),
    InitTask("check_kinds", S.ONCE_PER_DEPLOYMENT, check_kinds, "inspection check kinds sync"),
    InitTask("database_check", S.EVERY_SERVER, database_check, "PostgreSQL version, encoding"),
)
