"""The actions Nightwatch ships. Adding one is one `ActionSpec` here plus its parameter model.

Codes are forever: a plan refers to an action by code (and the database by a stable id),
so an action is never renamed; a replaced one is removed from this list and retired.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from catalog.params import ActionParams, InstanceFilter, Options, param
from catalog.spec import ActionSpec
from storage.enums import ActionCategory, Scene

APP_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MANUAL_SCENES = (Scene.EMERGENCY, Scene.RECOVERY)


def _instances(filter_: InstanceFilter) -> Options:
    return Options(source="container_instances", filter=filter_, depends_on=("app",))


# -- parameter models ---------------------------------------------------------------------


class ProductParams(ActionParams):
    product_code: str = param(
        "Product",
        "Code of the product on the product platform",
        order=1,
        min_length=1,
        max_length=64,
    )
    reason: str = param(
        "Reason", "Shown to customers and in the audit trail", order=2, min_length=3, max_length=500
    )


class ScaleParams(ActionParams):
    app: str = param(
        "Application",
        "SaaS application on the distributed-architecture platform",
        order=1,
        pattern=APP_NAME,
    )
    pods: int = param(
        "Pods", "How many pods to add (scale-out) or remove (scale-in)", order=2, ge=1, le=200
    )
    batch_size: int = param(
        "Pods per batch", "Pods released before each confirmation", order=3, default=1, ge=1, le=50
    )


class CircuitBreakParams(ActionParams):
    service: str = param("Service", "Service name in the middleware console", order=1, min_length=1)
    resource: str = param(
        "Resource", "Interface or method the rule applies to", order=2, min_length=1
    )
    error_ratio: float = param(
        "Error ratio",
        "Open the breaker above this share of errors",
        order=3,
        default=0.5,
        ge=0.01,
        le=1.0,
    )
    open_seconds: int = param(
        "Open for (s)",
        "How long the breaker stays open before probing",
        order=4,
        default=30,
        ge=1,
        le=3600,
    )


class RateLimitParams(ActionParams):
    service: str = param("Service", "Service name in the middleware console", order=1, min_length=1)
    resource: str = param(
        "Resource", "Interface or method the rule applies to", order=2, min_length=1
    )
    qps: int = param("Max QPS", "Requests per second allowed through", order=3, ge=1, le=1_000_000)


class DegradeParams(ActionParams):
    service: str = param("Service", "Service name in the middleware console", order=1, min_length=1)
    resource: str = param("Resource", "Interface or method to degrade", order=2, min_length=1)
    strategy: Literal["RETURN_DEFAULT", "FAIL_FAST", "FALLBACK_SERVICE"] = param(
        "Strategy", "What callers get while degraded", order=3, default="RETURN_DEFAULT"
    )


class RuleRefParams(ActionParams):
    service: str = param("Service", "Service name in the middleware console", order=1, min_length=1)
    resource: str = param("Resource", "Interface or method of the rule", order=2, min_length=1)


class ConfigEntry(BaseModel):
    """One key/value entry: structured lists instead of free maps, so a form can edit them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    value: str


class GatewayOpParams(ActionParams):
    gateway_group: str = param(
        "Gateway group", "Gateway cluster the API is published on", order=1, min_length=1
    )
    api_path: str = param(
        "API path", "Published API path, e.g. /loan/apply", order=2, pattern=r"^/\S*$"
    )
    operation: Literal["OFFLINE", "ONLINE", "THROTTLE", "MOCK_RESPONSE"] = param(
        "Operation", "What to do to the API on the gateway", order=3
    )
    settings: list[ConfigEntry] = param(
        "Settings", "Operation settings as key/value entries", order=4, default=[]
    )


class IamDegradeParams(ActionParams):
    mode: Literal["LOCAL_TOKEN_CACHE", "SKIP_RISK_SCORING", "READ_ONLY"] = param(
        "Degraded mode", "How IAM keeps logins working while degraded", order=1
    )
    reason: str = param("Reason", "Recorded in IAM's audit log", order=2, min_length=3)
    max_minutes: int = param(
        "Max duration (min)", "IAM restores itself after this", order=3, default=60, ge=1, le=1440
    )


class IamRestoreParams(ActionParams):
    reason: str = param("Reason", "Recorded in IAM's audit log", order=1, min_length=3)


class InstanceParams(ActionParams):
    app: str = param(
        "Application",
        "Application whose container instances are acted on",
        order=1,
        pattern=APP_NAME,
    )
    instance: str | None = param(
        "Instance",
        "One instance; empty means every instance the filter offers",
        order=2,
        default=None,
        options=_instances(InstanceFilter.RUNNING),
    )


class NotRunningInstanceParams(InstanceParams):
    instance: str | None = param(
        "Instance",
        "One instance; empty means every instance that is not running",
        order=2,
        default=None,
        options=_instances(InstanceFilter.NOT_RUNNING),
    )


class AnyInstanceParams(InstanceParams):
    instance: str | None = param(
        "Instance",
        "One instance; empty means every instance of the application",
        order=2,
        default=None,
        options=_instances(InstanceFilter.ALL),
    )


class HttpCallParams(ActionParams):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = param(
        "Method", "HTTP method", order=1, default="GET"
    )
    url: str = param("URL", "Absolute http(s) URL", order=2, pattern=r"^https?://\S+$")
    headers: list[ConfigEntry] = param("Headers", "Request headers", order=3, default=[])
    body: str | None = param("Body", "Request body (sent as is)", order=4, default=None)
    bearer_token: str | None = param(
        "Bearer token", "Sent as Authorization: Bearer", order=5, default=None, secret=True
    )
    expected_status: list[int] = param(
        "Expected status", "Any other status fails the step", order=6, default=[200]
    )
    timeout_seconds: int = param("Timeout (s)", "Whole request", order=7, default=10, ge=1, le=300)


class NotifyParams(ActionParams):
    channel: str = param(
        "Channel",
        "Name of a webhook in system config notification.webhooks",
        order=1,
        options=Options(source="notification_channels"),
    )
    message: str = param(
        "Message", "Text sent to the channel", order=2, min_length=1, max_length=4000
    )
    mention: list[str] = param("Mention", "People or groups to mention", order=3, default=[])


class WaitParams(ActionParams):
    seconds: int = param("Seconds", "How long to wait", order=1, ge=1, le=86_400)
    reason: str | None = param("Reason", "Why the plan waits here", order=2, default=None)


class CheckpointParams(ActionParams):
    note: str | None = param(
        "Note",
        "Shown on the node, e.g. what to check before going on",
        order=1,
        default=None,
        max_length=2000,
    )


class ManualStepParams(ActionParams):
    instructions: str = param(
        "Instructions",
        "What the person must do before confirming",
        order=1,
        min_length=3,
        max_length=4000,
    )
    assignee: str | None = param("Assignee", "Who is expected to do it", order=2, default=None)


# -- declarations -------------------------------------------------------------------------

A = ActionCategory
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "PRODUCT_OFFLINE",
        "Take product offline",
        "Stops sales of a product",
        A.PRODUCT,
        ProductParams,
        "product_offline",
        display_order=10,
        scenes=MANUAL_SCENES,
        depends_on_configs=("platform.product.base_url",),
        inverse="PRODUCT_ONLINE",
    ),
    ActionSpec(
        "PRODUCT_ONLINE",
        "Bring product online",
        "Resumes sales of a product",
        A.PRODUCT,
        ProductParams,
        "product_online",
        display_order=11,
        depends_on_configs=("platform.product.base_url",),
        inverse="PRODUCT_OFFLINE",
    ),
    ActionSpec(
        "GW_OP_CONFIG",
        "Gateway operation config",
        "Takes an API offline, online, throttles or mocks it on the API gateway",
        A.NETWORK,
        GatewayOpParams,
        "gateway_op_config",
        display_order=20,
        depends_on_configs=("platform.gateway.base_url",),
    ),
    ActionSpec(
        "APP_SCALE_OUT",
        "Scale out application",
        "Creates a release order, executes it, confirms each pod batch, waits for it",
        A.APPLICATION,
        ScaleParams,
        "scale_out",
        display_order=30,
        depends_on_configs=("platform.dap.base_url",),
        inverse="APP_SCALE_IN",
        max_attempts=5,
        timeout_minutes=24 * 60,
    ),
    ActionSpec(
        "APP_SCALE_IN",
        "Scale in application",
        "Removes pods through a release order",
        A.APPLICATION,
        ScaleParams,
        "scale_in",
        display_order=31,
        depends_on_configs=("platform.dap.base_url",),
        inverse="APP_SCALE_OUT",
        max_attempts=5,
        timeout_minutes=24 * 60,
    ),
    ActionSpec(
        "CONTAINER_INSTANCE_RESTART",
        "Restart container instances",
        "Restarts running instances; empty instance means all running ones",
        A.INFRASTRUCTURE,
        InstanceParams,
        "restart_instances",
        display_order=40,
        depends_on_configs=("platform.dap.base_url",),
    ),
    ActionSpec(
        "CONTAINER_INSTANCE_REBUILD",
        "Rebuild stopped instances",
        "Recreates instances that are not running; empty means all of them",
        A.INFRASTRUCTURE,
        NotRunningInstanceParams,
        "rebuild_instances",
        display_order=41,
        depends_on_configs=("platform.dap.base_url",),
    ),
    ActionSpec(
        "CONTAINER_INSTANCE_DIAGNOSE",
        "Collect instance diagnostics",
        "Thread dumps and recent logs of instances, whatever their state",
        A.INFRASTRUCTURE,
        AnyInstanceParams,
        "diagnose_instances",
        display_order=42,
        depends_on_configs=("platform.dap.base_url",),
    ),
    ActionSpec(
        "CIRCUIT_BREAK_APPLY",
        "Apply circuit breaker",
        "Adds a circuit-breaking rule in the middleware console",
        A.SERVICE,
        CircuitBreakParams,
        "circuit_break_apply",
        display_order=50,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="CIRCUIT_BREAK_LIFT",
    ),
    ActionSpec(
        "CIRCUIT_BREAK_LIFT",
        "Lift circuit breaker",
        "Removes a circuit-breaking rule",
        A.SERVICE,
        RuleRefParams,
        "circuit_break_lift",
        display_order=51,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="CIRCUIT_BREAK_APPLY",
    ),
    ActionSpec(
        "RATE_LIMIT_APPLY",
        "Apply rate limit",
        "Adds a rate-limiting rule",
        A.SERVICE,
        RateLimitParams,
        "rate_limit_apply",
        display_order=52,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="RATE_LIMIT_LIFT",
    ),
    ActionSpec(
        "RATE_LIMIT_LIFT",
        "Lift rate limit",
        "Removes a rate-limiting rule",
        A.SERVICE,
        RuleRefParams,
        "rate_limit_lift",
        display_order=53,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="RATE_LIMIT_APPLY",
    ),
    ActionSpec(
        "DEGRADE_APPLY",
        "Degrade service",
        "Adds a degradation rule",
        A.SERVICE,
        DegradeParams,
        "degrade_apply",
        display_order=54,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="DEGRADE_RESTORE",
    ),
    ActionSpec(
        "DEGRADE_RESTORE",
        "Restore degraded service",
        "Removes a degradation rule",
        A.SERVICE,
        RuleRefParams,
        "degrade_restore",
        display_order=55,
        depends_on_configs=("platform.middleware.base_url",),
        inverse="DEGRADE_APPLY",
    ),
    ActionSpec(
        "IAM_DEGRADE",
        "Degrade IAM",
        "Switches IAM into a degraded mode",
        A.DATA,
        IamDegradeParams,
        "iam_degrade",
        display_order=60,
        depends_on_configs=("platform.iam.base_url",),
        inverse="IAM_RESTORE",
    ),
    ActionSpec(
        "IAM_RESTORE",
        "Restore IAM",
        "Switches IAM back to normal mode",
        A.DATA,
        IamRestoreParams,
        "iam_restore",
        display_order=61,
        depends_on_configs=("platform.iam.base_url",),
        inverse="IAM_DEGRADE",
    ),
    ActionSpec(
        "HTTP_CALL",
        "HTTP call",
        "Calls an HTTP endpoint and checks the status",
        A.GENERAL,
        HttpCallParams,
        "http_call",
        display_order=90,
    ),
    ActionSpec(
        "NOTIFY",
        "Notify",
        "Posts a message to a chat webhook",
        A.GENERAL,
        NotifyParams,
        "notify",
        display_order=91,
        depends_on_configs=("notification.webhooks",),
    ),
    ActionSpec(
        "WAIT",
        "Wait",
        "Waits a fixed time (durable timer)",
        A.GENERAL,
        WaitParams,
        "wait",
        display_order=92,
        max_attempts=1,
    ),
    ActionSpec(
        "CHECKPOINT",
        "Checkpoint",
        "Marks a point in the plan (give it preConfirm to ask before going on)",
        A.GENERAL,
        CheckpointParams,
        "checkpoint",
        display_order=89,
        max_attempts=1,
    ),
    ActionSpec(
        "MANUAL_STEP",
        "Manual step",
        "A person does something and confirms it",
        A.GENERAL,
        ManualStepParams,
        "manual_step",
        display_order=93,
        scenes=MANUAL_SCENES,
        max_attempts=1,
    ),
)
