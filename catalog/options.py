"""Where a parameter's allowed values come from (its option source), and how an empty
instance parameter is resolved: every instance of the application under the same filter."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.params import InstanceFilter
from catalog.system_config import CONFIGS_BY_KEY
from nightwatch.errors import NightwatchError
from platforms.dap import DapClient, Instance
from platforms.http import Endpoint, resolve_secret
from storage.models import SystemConfig


class Option(BaseModel):
    value: str
    label: str
    status: str | None = None


class OptionsError(NightwatchError):
    pass


def config_value(session: Session, key: str) -> Any:
    """A system-config value read through its declared type (defaults filled in)."""
    row = session.scalar(select(SystemConfig).where(SystemConfig.key == key))
    if row is None or row.value is None or row.retired_at is not None:
        raise OptionsError(key, "system config not set (`nightwatch config set`)")
    return CONFIGS_BY_KEY[key].parse(row.value["value"])


def matches(status: str, filter_: InstanceFilter | None) -> bool:
    if filter_ in (None, InstanceFilter.ALL):
        return True
    running = status == "Running"
    return running if filter_ == InstanceFilter.RUNNING else not running


def filtered(instances: list[Instance], filter_: InstanceFilter | None) -> list[Instance]:
    return [instance for instance in instances if matches(instance.status, filter_)]


async def resolve_instances(
    client: DapClient, app: str, instance: str | None, filter_: InstanceFilter | None
) -> list[str]:
    """The instances a step acts on: the one named, or (empty) all the filter offers."""
    known = await client.instances(app)
    if not instance:
        return [i.name for i in filtered(known, filter_)]
    found = next((i for i in known if i.name == instance), None)
    if found is None:
        raise OptionsError("instance", f"{instance} is not an instance of {app}")
    if not matches(found.status, filter_):
        raise OptionsError(
            "instance", f"{instance} is {found.status}; this action takes {filter_} instances"
        )
    return [instance]


async def container_instances(
    session: Session, filter_: InstanceFilter | None, context: dict[str, str]
) -> list[Option]:
    app = context.get("app")
    if not app:
        raise OptionsError("app", "choose the application first (query parameter app)")
    async with DapClient(dap_endpoint(session)) as client:
        found = await client.instances(app)
    return [
        Option(value=i.name, label=f"{i.name} ({i.status}, {i.node})", status=i.status)
        for i in filtered(found, filter_)
    ]


def dap_endpoint(session: Session) -> Endpoint:
    token = "platform.dap.token"
    return Endpoint(
        base_url=str(config_value(session, "platform.dap.base_url")),
        token=resolve_secret(token, config_value(session, token)),
        timeout=float(config_value(session, "platform.http_timeout_seconds")),
    )


async def notification_channels(
    session: Session, filter_: InstanceFilter | None, context: dict[str, str]
) -> list[Option]:
    hooks = config_value(session, "notification.webhooks")
    return [Option(value=h["name"], label=f"{h['name']} ({h['kind']})") for h in hooks]


SOURCES = {
    "container_instances": container_instances,
    "notification_channels": notification_channels,
}


async def options_for(
    session: Session, source: str, filter_: InstanceFilter | None, context: dict[str, str]
) -> list[Option]:
    provider = SOURCES.get(source)
    if provider is None:
        raise OptionsError(source, "unknown option source")
    return await provider(session, filter_, context)
