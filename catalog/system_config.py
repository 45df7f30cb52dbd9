"""System configuration declared in code: typed keys, defaults, structured values.

A key with a default is created by initialisation; a key without one exists only once an
operator sets it (`nightwatch config set`), and actions depending on it stay hidden until
then. Values are structured (lists of entries, never free maps) so a form can edit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, HttpUrl, StringConstraints, TypeAdapter, ValidationError

from catalog.spec import fingerprint
from nightwatch.errors import NightwatchError


class Webhook(BaseModel):
    """One chat webhook people are notified through."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    url: HttpUrl
    kind: Literal["generic", "wecom", "dingtalk", "slack"] = "generic"


class Channel(BaseModel):
    """Where inspection results are pushed: an Apprise URL (mailto://, dingtalk://, wecombot://,
    feishu://, slack://, json://…) or env:NAME naming a variable of the worker's environment
    that holds one (the URL carries the webhook's token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    url: str
    # The bank's own address of the chat platform (on-premises DingTalk or WeCom, or a
    # relay): requests go there instead of the public cloud address.
    relay: HttpUrl | None = None
    format: Literal["text", "markdown", "html"] | None = None


@dataclass(frozen=True)
class ConfigSpec:
    key: str
    type: Any
    description: str
    default: Any = None
    has_default: bool = False
    read_only: bool = False
    secret: bool = False  # shown masked; `env:NAME` reads it from the worker's environment

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.type)

    @property
    def value_type(self) -> str:
        schema = self.adapter.json_schema()
        if schema.get("type") == "array":
            return "entries"
        return str(schema.get("type", "json"))

    def parse(self, value: Any) -> Any:
        """Validate a value for this key; return it as JSON data, or raise ConfigValueError."""
        try:
            return self.adapter.dump_python(self.adapter.validate_python(value), mode="json")
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ConfigValueError(
                self.key + (f".{where}" if where else ""), error["msg"]
            ) from None

    def definition(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value_type": self.value_type,
            "description": self.description,
            "default": self.default,
        }


class ConfigValueError(NightwatchError):
    """A system-config value that does not fit its declared type."""


def required(key: str, type_: Any, description: str) -> ConfigSpec:
    return ConfigSpec(key, type_, description)


def defaulted(key: str, type_: Any, description: str, default: Any) -> ConfigSpec:
    return ConfigSpec(key, type_, description, default=default, has_default=True)


def credential(platform: str, title: str) -> ConfigSpec:
    """A platform's bearer token: optional, masked, or `env:NAME` to keep it out of the
    database (read from the worker's environment when a step calls the platform)."""
    return ConfigSpec(
        f"platform.{platform}.token",
        str | None,
        f"Bearer token for the {title} (or env:VARIABLE)",
        default=None,
        has_default=True,
        secret=True,
    )


def shown(spec: ConfigSpec | None, value: Any) -> Any:
    """A value as people may see it: a secret is masked unless it names a variable."""
    if spec is None or not spec.secret or not value:
        return value
    return value if str(value).startswith("env:") else "***"


SYSTEM_CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "installation.id", str, "Permanent id of this installation (set once)", read_only=True
    ),
    required(
        "platform.dap.base_url",
        HttpUrl,
        "Distributed-architecture platform API (applications, instances, release orders)",
    ),
    required(
        "platform.middleware.base_url",
        HttpUrl,
        "Middleware console API (circuit breaking, rate limiting, degradation)",
    ),
    required("platform.gateway.base_url", HttpUrl, "API gateway console (GW_OP_CONFIG)"),
    required("platform.iam.base_url", HttpUrl, "IAM administration API"),
    required("platform.product.base_url", HttpUrl, "Product management API"),
    credential("dap", "distributed-architecture platform"),
    credential("middleware", "middleware console"),
    credential("gateway", "API gateway console"),
    credential("iam", "IAM administration API"),
    credential("product", "product management API"),
    required("notification.webhooks", list[Webhook], "Chat webhooks NOTIFY steps can post to"),
    defaulted("platform.http_timeout_seconds", int, "Timeout of one platform call", 10),
    defaulted(
        "scale_out.poll_interval_seconds",
        float,
        "Seconds between polls of a release order (the old system used 10)",
        10.0,
    ),
    defaulted("scale_out.max_wait_minutes", int, "A release order taking longer fails", 60),
    defaulted(
        "execution.confirmation_reminder_seconds",
        int,
        "Remind people this long before a confirmation times out",
        300,
    ),
    ConfigSpec(
        "inspection.channels",
        list[Channel],
        "Where inspection results are pushed (inspection plans name them)",
        default=[],
        has_default=True,
        secret=True,
    ),
    defaulted(
        "inspection.retention_days", int, "Inspection runs and results are kept this long", 30
    ),
    defaulted(
        "inspection.merge_window_minutes",
        int,
        "An alert and a failed check on one resource this close together are one risk event",
        30,
    ),
    defaulted(
        "execution.action_sites",
        dict[str, Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]],
        "The data centre whose workers run an action's steps (action code -> site, e.g. "
        '{"GW_OP_CONFIG": "dc-b"}); a step\'s or sub-plan\'s own site wins',
        {},
    ),
    defaulted(
        "alerts.max_concurrent_per_plan",
        int,
        "Alert-started executions of one plan running at once; more are suppressed",
        3,
    ),
)

CONFIGS_BY_KEY = {spec.key: spec for spec in SYSTEM_CONFIGS}


def configs_fingerprint() -> str:
    return fingerprint([spec.definition() for spec in SYSTEM_CONFIGS])
