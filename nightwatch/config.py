"""The one settings object: `NIGHTWATCH_`-prefixed environment variables, an optional TOML file.

Precedence: explicit arguments, then environment, then the TOML file named by
`NIGHTWATCH_CONFIG` (default `./nightwatch.toml` when it exists), then defaults.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nightwatch.codec import KeyRing
from nightwatch.errors import SettingsError

ENV_PREFIX = "NIGHTWATCH_"
# Environment variables with our prefix that are not settings of the server itself.
_NOT_SETTINGS = ("NIGHTWATCH_CONFIG", "NIGHTWATCH_TEST_")

Port = int
LOCAL_KEY_FILE = "payload-keys.json"  # the local stack's payload keys, in its home folder


def _config_file() -> Path | None:
    named = os.environ.get("NIGHTWATCH_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError("NIGHTWATCH_CONFIG", f"config file {path} does not exist")
        return path
    default = Path("nightwatch.toml")
    return default if default.is_file() else None


class Settings(BaseSettings):
    """Everything a Nightwatch process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: Literal["development", "production"] = Field(
        "development", description="production requires DATABASE_URL and a real Temporal"
    )
    home: Path = Field(Path(".nightwatch"), description="data folder of the local stack")
    log_format: Literal["console", "json"] | None = Field(
        None, description="console in development, json in production unless set"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("NIGHTWATCH_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="PostgreSQL URL; the local stack's embedded server when unset",
    )

    temporal_address: str | None = Field(
        None, description="host:port of the Temporal frontend; the local stack's when unset"
    )
    temporal_namespace: str = "default"
    task_queue: str = "nightwatch"
    site: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,30}(,[a-z0-9][a-z0-9-]{0,30})*$",
        description="this worker's data centre (or several, comma-separated: the local "
        "stack stands for both): it also polls `<task_queue>@<site>`, where steps that name "
        "the site run",
    )
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None

    deployment: str | None = Field(
        None, description="deployment id; default: package version + catalog fingerprint"
    )
    init_wait_seconds: int = Field(
        300, ge=1, description="how long a server waits for another running an init task"
    )

    # The alert intake: credentials per source, comma-separated so several are valid at once
    # (rotation). Secrets: never printed (SecretStr).
    alert_tokens: SecretStr = Field(SecretStr(""), description="Alertmanager bearer tokens")
    alert_basic_auth: SecretStr = Field(
        SecretStr(""), description="Alertmanager basic auth, user:password entries"
    )
    alert_grafana_secrets: SecretStr = Field(SecretStr(""), description="Grafana HMAC secrets")
    alert_grafana_require_timestamp: bool = Field(
        False,
        description="refuse Grafana messages not signed over a fresh timestamp "
        "(without it a captured message can be replayed: docs/alerts.md)",
    )
    alert_webhook_secrets: SecretStr = Field(
        SecretStr(""), description="Standard Webhooks secrets (whsec_...) of the generic source"
    )
    alert_max_body_bytes: int = Field(1_048_576, ge=1024, description="largest alert body")
    # The intake over TLS; with a client CA, every sender must present a certificate it
    # signed (Alertmanager's `tls_config`), which then authenticates Alertmanager by itself.
    intake_tls_cert: Path | None = None
    intake_tls_key: Path | None = None
    intake_tls_client_ca: Path | None = None

    # Payload encryption (nightwatch/codec.py): on by default in production, and wherever keys
    # are configured (the local stack makes its own); "off" only by saying so.
    payload_encryption: Literal["on", "off"] | None = Field(
        None, description="on in production or when keys are set, unless off"
    )
    payload_keys: SecretStr = Field(
        SecretStr(""), description="id:base64key entries, comma-separated; the first encrypts"
    )
    payload_key_file: Path | None = Field(None, description="JSON key file (current + keys)")
    # The codec endpoint the Temporal Web UI calls to show payloads (`/codec` on the API).
    codec_cors_origins: str = Field("", description="Web UI origins, comma-separated")

    # Metrics (nightwatch/metrics.py): every process's /metrics page needs one of these.
    metrics_tokens: SecretStr = Field(
        SecretStr(""), description="bearer tokens Prometheus scrapes /metrics with, comma-separated"
    )
    worker_metrics_port: int = Field(
        9464, ge=0, le=65535, description="the worker's /metrics and /healthz (0: none)"
    )
    listen_host: str = Field(
        "127.0.0.1",
        max_length=200,
        description="where `nightwatch api` and `nightwatch intake` listen (0.0.0.0 in a "
        "container)",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", max_length=200, description="where the worker's /metrics listens"
    )
    sdk_metrics: bool = Field(True, description="add the Temporal SDK's metrics to /metrics")
    tracing: Literal["off", "on"] = Field(
        "off",
        description="OpenTelemetry traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT); needs "
        "the `tracing` extra",
    )

    archive_interval_seconds: float = Field(
        15.0, gt=0, le=3600, description="how often a worker archives closed histories"
    )

    # The CLI acts through the API, as whoever `nightwatch login` proved (or this token).
    api_url: str | None = Field(None, description="the API the CLI calls; the local stack's")
    token: SecretStr = Field(SecretStr(""), description="an API token for the CLI (automation)")
    intake_url: str | None = Field(None, description="the alert intake the CLI calls")
    credentials_file: Path | None = Field(
        None, description="where `nightwatch login` keeps its token (0600)"
    )

    # Who people are (docs/identity.md). Local accounts are the embedded default; a bank's
    # people sign in through its OpenID provider. API tokens work with either.
    local_accounts: Literal["on", "off"] | None = Field(
        None, description="sign-in with local accounts: on in development, off in production"
    )
    oidc_issuer: str | None = Field(None, description="the OpenID provider's issuer URL")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_redirect_uri: str | None = Field(
        None, description="this API's /auth/oidc/callback as the provider knows it"
    )
    oidc_audience: str | None = Field(None, description="expected audience; the client id if unset")
    oidc_scopes: str = "openid profile groups"
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    oidc_roles_by_group: str = Field(
        "", description="group=role+role entries, comma-separated (ops-oncall=operator+approver)"
    )
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_hours: int = Field(12, ge=1, le=7 * 24)
    cookie_secure: bool = Field(True, description="session cookies only over HTTPS (localhost too)")

    # The local stack (`nightwatch up`): ports are settings so two stacks can run side by side.
    temporal_port: Port = Field(7233, ge=1, le=65535)
    temporal_ui_port: Port = Field(8233, ge=1, le=65535)
    temporal_ui_url: str = Field(
        "",
        max_length=500,
        description="the Temporal Web UI the console links to (default: "
        "the local stack's, http://127.0.0.1:<temporal_ui_port>)",
    )
    temporal_http_port: Port = Field(7243, ge=1, le=65535)
    temporal_metrics_port: Port = Field(7244, ge=1, le=65535)
    postgres_port: Port = Field(55432, ge=1, le=65535)
    api_port: Port = Field(8080, ge=1, le=65535)
    simulator_port: Port = Field(8090, ge=1, le=65535)
    simulator_token: SecretStr = Field(
        SecretStr(""), description="bearer token the simulator asks of platform calls"
    )
    intake_port: Port = Field(8085, ge=1, le=65535)
    temporal_bin: Path | None = Field(None, description="the temporal CLI; found beside Python")

    @property
    def sites(self) -> list[str]:
        """The data centres this worker serves (NIGHTWATCH_SITE, comma-separated)."""
        return [part for part in (self.site or "").split(",") if part]

    def web_ui(self) -> str:
        """The Temporal Web UI's address, without a trailing slash."""
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.env == "production" and not self.database_url:
            raise ValueError("database_url: required when NIGHTWATCH_ENV=production")
        if self.env == "production" and not self.temporal_address:
            raise ValueError("temporal_address: required when NIGHTWATCH_ENV=production")
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise ValueError("temporal_tls_cert: TLS needs both a certificate and a key")
        if bool(self.intake_tls_cert) != bool(self.intake_tls_key):
            raise ValueError("intake_tls_cert: TLS needs both a certificate and a key")
        if self.intake_tls_client_ca and not self.intake_tls_cert:
            raise ValueError(
                "intake_tls_client_ca: client certificates need the intake on TLS "
                "(intake_tls_cert and intake_tls_key)"
            )
        for name in (
            "temporal_tls_cert",
            "temporal_tls_key",
            "temporal_tls_ca",
            "intake_tls_cert",
            "intake_tls_key",
            "intake_tls_client_ca",
        ):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}: file {path} does not exist")
        if self.payload_keys.get_secret_value() and self.payload_key_file:
            raise ValueError("payload_keys: set the keys or a key file, not both")
        if self.payload_key_file is not None and not Path(self.payload_key_file).is_file():
            raise ValueError(f"payload_key_file: file {self.payload_key_file} does not exist")
        if self.env == "production" and self.payload_encryption == "off":
            raise ValueError(
                "payload_encryption: production never sends plain-text payloads to Temporal: "
                "remove NIGHTWATCH_PAYLOAD_ENCRYPTION=off and set NIGHTWATCH_PAYLOAD_KEYS or "
                "NIGHTWATCH_PAYLOAD_KEY_FILE"
            )
        if self.encrypts_payloads and not self.has_payload_keys:
            raise ValueError(
                "payload_keys: payload encryption is on (the default in production) "
                "but no keys are set: set NIGHTWATCH_PAYLOAD_KEYS or "
                "NIGHTWATCH_PAYLOAD_KEY_FILE, or NIGHTWATCH_PAYLOAD_ENCRYPTION=off"
            )
        try:
            self.key_ring()
        except SettingsError as exc:
            field = "payload_key_file" if self.payload_key_file else "payload_keys"
            raise ValueError(f"{field}: {exc.reason}") from None
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_redirect_uri):
            raise ValueError(
                "oidc_client_id: an OpenID provider needs NIGHTWATCH_OIDC_CLIENT_ID and "
                "NIGHTWATCH_OIDC_REDIRECT_URI as well"
            )
        if self.database_url and not self.database_url.startswith(("postgresql", "postgres://")):
            raise ValueError("database_url: must be a postgresql:// URL")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # Derived values: one place computes each.
    @staticmethod
    def entries(secret: SecretStr) -> list[str]:
        """The comma-separated entries of a secret setting."""
        return [part.strip() for part in secret.get_secret_value().split(",") if part.strip()]

    @cached_property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.env == "production" else "console"

    @property
    def effective_payload_key_file(self) -> Path | None:
        """The key file named, else (development only) the one the local stack made."""
        if self.payload_key_file is not None or self.payload_keys.get_secret_value():
            return self.payload_key_file
        made = self.home_dir / LOCAL_KEY_FILE
        return made if self.env == "development" and made.is_file() else None

    @property
    def has_payload_keys(self) -> bool:
        return bool(self.payload_keys.get_secret_value() or self.effective_payload_key_file)

    @property
    def encrypts_payloads(self) -> bool:
        if self.payload_encryption is not None:
            return self.payload_encryption == "on"
        return self.env == "production" or self.has_payload_keys

    def key_ring(self) -> KeyRing | None:
        """The payload keys when encryption is on (read afresh: a rotated file is picked up)."""
        if not self.encrypts_payloads:
            return None
        key_file = self.effective_payload_key_file
        if key_file is not None:
            return KeyRing.from_file(key_file)
        return KeyRing.parse(self.entries(self.payload_keys), source="NIGHTWATCH_PAYLOAD_KEYS")

    @cached_property
    def effective_api_url(self) -> str:
        return (self.api_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @cached_property
    def effective_intake_url(self) -> str:
        return (self.intake_url or f"http://127.0.0.1:{self.intake_port}").rstrip("/")

    @cached_property
    def effective_credentials_file(self) -> Path:
        if self.credentials_file is not None:
            return self.credentials_file.expanduser()
        config_home = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
        return Path(config_home).expanduser() / "nightwatch" / "credentials.json"

    @property
    def uses_local_accounts(self) -> bool:
        if self.local_accounts is not None:
            return self.local_accounts == "on"
        return self.env == "development"

    def roles_by_group(self) -> dict[str, list[str]]:
        """`ops-oncall=operator+approver,ops-admin=admin` as {group: [role, ...]}."""
        mapping: dict[str, list[str]] = {}
        for entry in self.oidc_roles_by_group.split(","):
            group, sep, roles = entry.partition("=")
            if entry.strip() and not (sep and group.strip()):
                raise SettingsError("NIGHTWATCH_OIDC_ROLES_BY_GROUP", f"{entry!r}: not group=role")
            if sep:
                mapping[group.strip()] = [r for r in roles.split("+") if r.strip()]
        return mapping

    @cached_property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @cached_property
    def embedded_database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres_port}/nightwatch"

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or self.embedded_database_url

    @property
    def uses_embedded_postgres(self) -> bool:
        return not self.database_url

    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()


def env_name(field: str) -> str:
    """The environment variable a user sets for a settings field."""
    if field == "database_url":
        return "DATABASE_URL"
    return ENV_PREFIX + field.upper()


def unknown_environment_settings() -> list[str]:
    """`NIGHTWATCH_*` variables that name no setting: most likely a typo."""
    known = {env_name(name) for name in Settings.model_fields} | {"NIGHTWATCH_DATABASE_URL"}
    return sorted(
        key
        for key in os.environ
        if key.startswith(ENV_PREFIX) and key not in known and not key.startswith(_NOT_SETTINGS)
    )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError naming the first wrong one in one line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _settings_error(exc) from None
    # Unknown variables are warned about once logging is set up (to stderr: nightwatch/logs.py).
    return settings


def _settings_error(exc: ValidationError) -> SettingsError:
    first = exc.errors()[0]
    location = [str(part) for part in first["loc"] if part != "__root__"]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not location and ":" in message:
        field, _, message = message.partition(":")
        location = [field.strip()]
        message = message.strip()
    field = location[0] if location else "settings"
    name = env_name(field.lower()) if field.lower() in Settings.model_fields else field
    value = first.get("input")
    shown = f" (got {value!r})" if location and isinstance(value, str | int) else ""
    return SettingsError(name, f"{message}{shown}")
