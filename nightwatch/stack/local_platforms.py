"""The local stack's stand-in for the bank's platforms: point unset platform configs at the
simulator, so every action is usable in development. Never runs in production."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from catalog.sync import refresh_visibility
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


def configure_local_platforms(
    settings: Settings, simulator: str, say: Callable[[str], None]
) -> None:
    if settings.env == "production":
        return
    wanted: dict[str, object] = {key: simulator for key in PLATFORM_KEYS}
    wanted["notification.webhooks"] = [{"name": "ops", "url": f"{simulator}/chat/ops",
                                        "kind": "generic"}]  # fmt: skip
    with session_factory(settings.effective_database_url)() as session:
        rows = session.scalars(select(SystemConfig).where(SystemConfig.key.in_(wanted)))
        changed = []
        for row in rows:
            if row.value is None:
                row.value = {"value": wanted[row.key]}
                changed.append(row.key)
        refresh_visibility(session)
        session.commit()
    if changed:
        say(f"configs   {len(changed)} platform settings point at the simulator")
