"""The local stack's stand-in for the bank's platforms: point unset platform configs at the
simulator, so every action is usable in development. Never runs in production."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from catalog.check_sync import refresh_check_visibility
from catalog.sync import refresh_visibility
from catalog.system_config import CONFIGS_BY_KEY
from nightwatch.config import Settings
from storage.db import session_factory
from storage.models import SystemConfig

PLATFORM_KEYS = (
    "platform.dap.base_url",
    "platform.middleware.base_url",
    "platform.gateway.base_url",
    "platform.iam.base_url",
    "platform.product.base_url",
)


# The simulator's orders move every few seconds: poll them faster than the bank's default.
LOCAL_POLL_SECONDS = 2.0


def configure_local_platforms(
    settings: Settings, simulator: str, token: str, say: Callable[[str], None]
) -> None:
    """Unset platform settings (and still-default poll interval) point at the simulator."""
    if settings.env == "production":
        return
    wanted: dict[str, object] = {key: simulator for key in PLATFORM_KEYS}
    wanted.update({key.replace("base_url", "token"): token for key in PLATFORM_KEYS})
    wanted["notification.webhooks"] = [
        {"name": "ops", "url": f"{simulator}/chat/ops", "kind": "generic"}
    ]
    defaults = {"scale_out.poll_interval_seconds": (10, LOCAL_POLL_SECONDS)}
    with session_factory(settings.effective_database_url)() as session:
        rows = session.scalars(
            select(SystemConfig).where(SystemConfig.key.in_([*wanted, *defaults]))
        )
        changed = []
        for row in rows:
            if row.key in defaults:
                default, local = defaults[row.key]
                if row.value is not None and row.value["value"] == default:
                    row.value = {"value": local}
                    changed.append(row.key)
            elif row.value is None or row.value["value"] is None:
                row.value = {"value": CONFIGS_BY_KEY[row.key].parse(wanted[row.key])}
                changed.append(row.key)
        refresh_visibility(session)
        refresh_check_visibility(session)
        session.commit()
    if changed:
        say(f"configs   {len(changed)} platform settings point at the simulator")
