"""The one Temporal client factory, the one data converter, and the search attributes we use.

Client, worker, replayer and codec server all take the converter from `data_converter()`
so that every payload is read the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import socket

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from nightwatch import tracing
from nightwatch.codec import EncryptionCodec, KeyRing
from nightwatch.config import Settings
from nightwatch.errors import NightwatchError
from nightwatch.search_attributes import (
    ALERT_FINGERPRINT,
    EXECUTION_ID,
    PLAN_ID,
    PLAN_SCENE,
    SEARCH_ATTRIBUTES,
    TRIGGER_KIND,
)

# The search attributes live with their registration (nightwatch/search_attributes.py).
__all__ = [
    "ALERT_FINGERPRINT",
    "EXECUTION_ID",
    "PLAN_ID",
    "PLAN_SCENE",
    "SEARCH_ATTRIBUTES",
    "TRIGGER_KIND",
    "connect",
    "data_converter",
]


class PayloadConverter(CompositePayloadConverter):
    """The SDK's pydantic payload converter (the same wire format), built once.

    The worker builds a payload converter from its class for every workflow activation;
    pydantic's builds its encoders and an empty type-adapter cache each time. This one
    hands out the same encoders, so the type adapters are built once per type.
    """

    _shared = PydanticPayloadConverter()

    def __init__(self) -> None:
        # Not super().__init__(): it would build the mapping again, for every activation.
        self.converters = self._shared.converters


_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


def data_converter(ring: KeyRing | None = None) -> DataConverter:
    """Pydantic payloads, AES-GCM encrypted with `ring` when encryption is on."""
    if ring is None:
        return _CONVERTER
    return dataclasses.replace(_CONVERTER, payload_codec=EncryptionCodec(ring))


def _tls(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls_cert or settings.temporal_tls_ca):
        return False
    return TLSConfig(
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=(
            settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None
        ),
        server_root_ca_cert=settings.temporal_tls_ca.read_bytes()
        if settings.temporal_tls_ca
        else None,
        domain=settings.temporal_tls_server_name,
    )


class TemporalUnavailable(NightwatchError, RuntimeError):
    """The Temporal frontend cannot be reached (a RuntimeError, as the SDK raises)."""


_RUNTIME: tuple[Runtime, str] | None = None


def sdk_runtime() -> tuple[Runtime, str]:
    """This process's Temporal runtime, its metrics served on a loopback port (the address
    is the second item; /metrics pages append what it serves)."""
    global _RUNTIME
    if _RUNTIME is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        endpoint = f"127.0.0.1:{port}"
        metrics = PrometheusConfig(bind_address=endpoint)
        _RUNTIME = (Runtime(telemetry=TelemetryConfig(metrics=metrics)), endpoint)
    return _RUNTIME


def sdk_metrics_endpoint() -> str | None:
    """Where this process's Temporal SDK serves its metrics, once a client connected."""
    return _RUNTIME[1] if _RUNTIME else None


async def connect(settings: Settings, *, identity: str | None = None) -> Client:
    """Connect to the configured Temporal frontend with our converter."""
    address = settings.effective_temporal_address
    try:
        return await Client.connect(
            address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings.key_ring()),
            tls=_tls(settings),
            identity=identity,
            runtime=sdk_runtime()[0] if settings.sdk_metrics else None,
            interceptors=tracing.interceptors(settings),
        )
    except RuntimeError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else str(exc)[:200]
        raise TemporalUnavailable(
            "temporal", f"cannot connect to {address}: {reason} (is it running? `nightwatch up`)"
        ) from None
