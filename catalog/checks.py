"""The check kinds Nightwatch ships: declared like actions, synced into `inspection_check_kind`.

A check kind names what it observes (the subjects its conditions may use), its typed
parameters, and the conditions that apply when an inspection plan gives none. Codes are
forever, as action codes are: a plan refers to a kind by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from catalog.params import ActionParams, ParamInfo, describe, param
from catalog.spec import fingerprint

HOST = r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$"
APP_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class CheckCategory(StrEnum):
    AVAILABILITY = "AVAILABILITY"
    NETWORK = "NETWORK"
    CERTIFICATE = "CERTIFICATE"
    METRICS = "METRICS"
    DATABASE = "DATABASE"
    PLATFORM = "PLATFORM"


class Observed(BaseModel):
    """One subject a kind's conditions may name (`status`, `response_time`, `json`…)."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: Literal["integer", "number", "text", "boolean", "list", "json", "duration"]
    description: str


class CheckParams(ActionParams):
    """Base of every check kind's parameters (unknown keys are refused)."""

    timeout_ms: int = param(
        "Timeout (ms)", "How long one try may take", order=90, default=5000, ge=50, le=120_000
    )


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    value: str


class HttpParams(CheckParams):
    url: str = param(
        "URL", "http:// or https:// address to request", order=1, pattern=r"^https?://\S+$"
    )
    method: Literal["GET", "HEAD", "POST"] = param("Method", "HTTP method", order=2, default="GET")
    headers: list[Header] = param("Headers", "Request headers", order=3, default=[])
    body: str | None = param("Body", "Request body (POST)", order=4, default=None)
    follow_redirects: bool = param("Follow redirects", "Follow 3xx answers", order=5, default=False)
    verify_tls: bool = param(
        "Verify TLS", "Refuse certificates the trust store does not accept", order=6, default=True
    )
    ca_file: str | None = param(
        "CA file", "PEM bundle to trust instead of the system's", order=7, default=None
    )
    max_body_kb: int = param(
        "Body kept (KiB)", "Read at most this much of the body", order=8, default=256, ge=1, le=4096
    )


class TcpParams(CheckParams):
    host: str = param("Host", "Name or address", order=1, pattern=HOST)
    port: int = param("Port", "TCP port", order=2, ge=1, le=65535)


class DnsParams(CheckParams):
    name: str = param("Name", "The name to resolve", order=1, min_length=1, max_length=253)
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "PTR"] = param(
        "Record type", "Record type to ask for", order=2, default="A"
    )
    nameserver: str | None = param(
        "Name server", "host or host:port to ask instead of the system's", order=3, default=None
    )


class TlsParams(CheckParams):
    host: str = param("Host", "Name or address", order=1, pattern=HOST)
    port: int = param("Port", "TCP port", order=2, default=443, ge=1, le=65535)
    server_name: str | None = param(
        "Server name", "SNI name (default: the host)", order=3, default=None
    )
    ca_file: str | None = param(
        "CA file", "PEM bundle to verify the chain against", order=4, default=None
    )


class PrometheusParams(CheckParams):
    server: str = param(
        "Prometheus", "Base URL of the Prometheus server", order=1, pattern=r"^https?://\S+$"
    )
    query: str = param("Query", "PromQL instant query", order=2, min_length=1, max_length=4000)


class PostgresParams(CheckParams):
    dsn: str = param(
        "Connection",
        "postgresql:// URL (a password here is kept sealed; prefer env:NAME)",
        order=1,
        secret=True,
        min_length=1,
    )
    query: str = param(
        "Query",
        "Read-only query; its first column of its first row is `value`",
        order=2,
        default="select 1",
        max_length=4000,
    )


class AppInstancesParams(CheckParams):
    app: str = param("Application", "SaaS application on the platform", order=1, pattern=APP_NAME)


class ReleaseOrdersParams(CheckParams):
    app: str | None = param(
        "Application", "Only this application's orders (default: all)", order=1, default=None
    )
    stuck_minutes: int = param(
        "Stuck after (min)",
        "An unfinished order unchanged this long is stuck",
        order=2,
        default=30,
        ge=1,
        le=10_080,
    )


class RuleDriftParams(CheckParams):
    service: str = param("Service", "Service name in the middleware console", order=1, min_length=1)
    resource: str = param("Resource", "Interface or method of the rule", order=2, min_length=1)


class GatewayDriftParams(CheckParams):
    gateway_group: str = param("Gateway group", "Gateway cluster", order=1, min_length=1)
    api_path: str = param("API path", "Published API path", order=2, pattern=r"^/\S*$")


class IamDegradedParams(CheckParams):
    max_minutes: int = param(
        "Allowed (min)",
        "How long IAM may stay in a degraded mode",
        order=1,
        default=30,
        ge=1,
        le=10_080,
    )


class TargetSource(StrEnum):
    """Where `every:` targets come from (the platform's inventory)."""

    APP_INSTANCES = "app_instances"  # every instance of an application
    APPS = "apps"  # every application


@dataclass(frozen=True)
class CheckSpec:
    code: str
    name: str
    description: str
    category: CheckCategory
    params: type[CheckParams]
    observes: tuple[Observed, ...]
    default_conditions: tuple[str, ...]
    display_order: int = 0
    depends_on_configs: tuple[str, ...] = ()
    # The parameter that names the resource a failure is about (the resource key's value).
    resource_param: str | None = None
    resource_kind: str = "endpoint"

    @cached_property
    def param_infos(self) -> list[ParamInfo]:
        return describe(self.params)

    @cached_property
    def subjects(self) -> frozenset[str]:
        return frozenset(item.name for item in self.observes)

    def definition(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "category": str(self.category),
            "display_order": self.display_order,
            "depends_on_configs": list(self.depends_on_configs),
            "observes": [item.model_dump() for item in self.observes],
            "default_conditions": list(self.default_conditions),
            "params": [info.model_dump(mode="json") for info in self.param_infos],
        }

    @cached_property
    def definition_hash(self) -> str:
        return fingerprint(self.definition())


def _o(name: str, kind: Any, description: str) -> Observed:
    return Observed(name=name, type=kind, description=description)


RESPONSE_TIME = _o("response_time", "duration", "time to the answer, in ms")
SEEN = _o("error", "text", "why the check could not observe anything (empty when it could)")

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        code="http",
        name="HTTP(S) endpoint",
        description="Request a URL: status, body, JSON fields, response time, certificate",
        category=CheckCategory.AVAILABILITY,
        params=HttpParams,
        observes=(
            _o("status", "integer", "HTTP status code"),
            RESPONSE_TIME,
            _o("body", "text", "the body as text (at most max_body_kb)"),
            _o("json", "json", "the body parsed as JSON: json.a.b[0]"),
            _o("headers", "json", "response headers, lower-case names"),
            _o("cert_days", "number", "days until the server certificate expires (https)"),
            SEEN,
        ),
        default_conditions=("status < 400",),
        display_order=10,
        resource_param="url",
    ),
    CheckSpec(
        code="tcp",
        name="TCP connect",
        description="Open a TCP connection",
        category=CheckCategory.NETWORK,
        params=TcpParams,
        observes=(_o("connected", "boolean", "the connection opened"), RESPONSE_TIME, SEEN),
        default_conditions=("connected == true",),
        display_order=20,
        resource_param="host",
    ),
    CheckSpec(
        code="dns",
        name="DNS resolution",
        description="Resolve a name (dnspython): answers, response code, time",
        category=CheckCategory.NETWORK,
        params=DnsParams,
        observes=(
            _o("rcode", "text", "NOERROR, NXDOMAIN, SERVFAIL…"),
            _o("answers", "list", "the answers as text"),
            RESPONSE_TIME,
            SEEN,
        ),
        default_conditions=("rcode == NOERROR", "len(answers) > 0"),
        display_order=30,
        resource_param="name",
        resource_kind="dns",
    ),
    CheckSpec(
        code="tls",
        name="TLS certificate",
        description="Handshake with any TLS endpoint: days left, chain valid, names",
        category=CheckCategory.CERTIFICATE,
        params=TlsParams,
        observes=(
            _o("cert_days", "number", "days until the certificate expires"),
            _o("verified", "boolean", "the chain and name verified"),
            _o("subject", "text", "the certificate's subject"),
            _o("issuer", "text", "the certificate's issuer"),
            _o("not_after", "text", "expiry, ISO 8601"),
            RESPONSE_TIME,
            SEEN,
        ),
        default_conditions=("verified == true", "cert_days > 14"),
        display_order=40,
        resource_param="host",
    ),
    CheckSpec(
        code="prometheus",
        name="Prometheus query",
        description="An instant PromQL query through the Prometheus HTTP API, against thresholds",
        category=CheckCategory.METRICS,
        params=PrometheusParams,
        observes=(
            _o("value", "number", "the first series' value"),
            _o("values", "list", "every series' value"),
            _o("series", "integer", "how many series the query returned"),
            _o("labels", "json", "the first series' labels"),
            RESPONSE_TIME,
            SEEN,
        ),
        default_conditions=("series > 0",),
        display_order=50,
        resource_param="query",
        resource_kind="metric",
    ),
    CheckSpec(
        code="postgres",
        name="PostgreSQL",
        description="Connect and run a read-only query (in a read-only transaction)",
        category=CheckCategory.DATABASE,
        params=PostgresParams,
        observes=(
            _o("connected", "boolean", "the connection opened"),
            _o("value", "json", "first column of the first row"),
            _o("rows", "integer", "rows returned (at most 1000 read)"),
            RESPONSE_TIME,
            SEEN,
        ),
        default_conditions=("connected == true",),
        display_order=60,
        resource_param="dsn",
        resource_kind="database",
    ),
    CheckSpec(
        code="app_instances",
        name="Application instances",
        description="Container instances of an application that are not Running",
        category=CheckCategory.PLATFORM,
        params=AppInstancesParams,
        observes=(
            _o("not_running", "integer", "instances not Running"),
            _o("running", "integer", "instances Running"),
            _o("instances", "list", "name and status of each instance not Running"),
            SEEN,
        ),
        default_conditions=("not_running == 0",),
        display_order=70,
        depends_on_configs=("platform.dap.base_url",),
        resource_param="app",
        resource_kind="app",
    ),
    CheckSpec(
        code="release_orders",
        name="Stuck release orders",
        description="Release orders unfinished and unchanged longer than stuck_minutes",
        category=CheckCategory.PLATFORM,
        params=ReleaseOrdersParams,
        observes=(
            _o("stuck", "integer", "how many orders are stuck"),
            _o("orders", "list", "id, app, state and minutes of each stuck order"),
            SEEN,
        ),
        default_conditions=("stuck == 0",),
        display_order=80,
        depends_on_configs=("platform.dap.base_url",),
        resource_param="app",
        resource_kind="app",
    ),
    CheckSpec(
        code="rule_drift",
        name="Middleware rule drift",
        description="The live middleware rules of a resource against what a plan last set",
        category=CheckCategory.PLATFORM,
        params=RuleDriftParams,
        observes=(
            _o("drifted", "boolean", "the live rules differ from what the last plan set"),
            _o("differences", "list", "what differs, one line each"),
            _o("set_by", "text", "the execution that last set the rules"),
            SEEN,
        ),
        default_conditions=("drifted == false",),
        display_order=90,
        depends_on_configs=("platform.middleware.base_url",),
        resource_param="service",
        resource_kind="service",
    ),
    CheckSpec(
        code="gateway_drift",
        name="Gateway config drift",
        description="An API's live gateway operation against what a plan last set",
        category=CheckCategory.PLATFORM,
        params=GatewayDriftParams,
        observes=(
            _o("drifted", "boolean", "the live operation differs from what the last plan set"),
            _o("differences", "list", "what differs, one line each"),
            _o("operation", "text", "the live operation"),
            _o("set_by", "text", "the execution that last set it"),
            SEEN,
        ),
        default_conditions=("drifted == false",),
        display_order=100,
        depends_on_configs=("platform.gateway.base_url",),
        resource_param="api_path",
        resource_kind="api",
    ),
    CheckSpec(
        code="iam_degraded",
        name="IAM degraded mode",
        description="IAM in a degraded mode longer than allowed",
        category=CheckCategory.PLATFORM,
        params=IamDegradedParams,
        observes=(
            _o("mode", "text", "NORMAL or the degraded mode"),
            _o("degraded_minutes", "number", "minutes in the degraded mode (0 when NORMAL)"),
            _o("over_limit", "boolean", "degraded longer than max_minutes"),
            SEEN,
        ),
        default_conditions=("over_limit == false",),
        display_order=110,
        depends_on_configs=("platform.iam.base_url",),
        resource_kind="iam",
    ),
)

CHECKS_BY_CODE: dict[str, CheckSpec] = {spec.code: spec for spec in CHECKS}


class HostPort(BaseModel):
    """A `host:port` a name server may be given as."""

    model_config = ConfigDict(frozen=True)
    host: str
    port: int = 53

    @model_validator(mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
            return {"host": host or value, "port": int(port) if port.isdigit() else 53}
        return value


def checks_fingerprint() -> str:
    return fingerprint([spec.definition_hash for spec in CHECKS])


def _check_declarations() -> None:
    codes = [spec.code for spec in CHECKS]
    assert len(codes) == len(set(codes)), f"check codes declared twice: {codes}"
    for spec in CHECKS:
        fields = spec.params.model_fields
        assert spec.resource_param is None or spec.resource_param in fields, spec.code


_check_declarations()
