"""The alert payloads Nightwatch accepts, and the one shape they all become (`Alert`).

- Prometheus Alertmanager webhook, version 4 (`receiver`, `status`, `alerts[]` with
  `labels`, `annotations`, `startsAt`, `endsAt`, `fingerprint`, `groupKey`, …);
- Grafana alerting webhooks (the same alert list, plus Grafana's own fields);
- a generic JSON alert (documented in docs/alerts.md) for any other sender.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Source = Literal["alertmanager", "grafana", "generic"]
LabelMap = dict[str, str]


def _printable(values: dict[str, str]) -> dict[str, str]:
    for key, value in values.items():
        if "\x00" in key or "\x00" in value:
            raise ValueError(f"{key!r}: NUL characters are not allowed")
    return values


ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Alertmanager's "not ended"


def _representable(value: datetime) -> datetime:
    """A time every part can store and compare: with an offset (none means UTC), and
    inside years 1 to 9999 once in UTC (`9999-12-31T23:59:59-23:59` is not)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: in UTC it must fall within years 1 to 9999") from None
    return value


Instant = Annotated[datetime, AfterValidator(_representable)]


class PromAlert(BaseModel):
    """One alert of an Alertmanager (or Grafana) notification."""

    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: LabelMap
    annotations: LabelMap = Field(default_factory=dict)
    startsAt: Instant
    endsAt: Instant | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(None, max_length=128)

    @field_validator("labels")
    @classmethod
    def _some_labels(cls, labels: LabelMap) -> LabelMap:
        if not labels:
            raise ValueError("an alert needs at least one label")
        return _printable(labels)

    @field_validator("annotations")
    @classmethod
    def _clean_annotations(cls, annotations: LabelMap) -> LabelMap:
        return _printable(annotations)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook notification (version 4)."""

    model_config = ConfigDict(extra="ignore")
    version: Literal["4"]
    receiver: str
    status: Literal["firing", "resolved"]
    alerts: list[PromAlert] = Field(min_length=1, max_length=1000)
    groupKey: str
    groupLabels: LabelMap = Field(default_factory=dict)
    commonLabels: LabelMap = Field(default_factory=dict)
    commonAnnotations: LabelMap = Field(default_factory=dict)
    externalURL: str | None = None
    truncatedAlerts: int = 0


class GrafanaPayload(BaseModel):
    """Grafana alerting's webhook notification (Alertmanager-like, version 1)."""

    model_config = ConfigDict(extra="ignore")
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[PromAlert] = Field(min_length=1, max_length=1000)
    groupKey: str = ""
    orgId: int | None = None
    title: str | None = None
    version: str | None = None


class GenericAlert(BaseModel):
    """The generic alert: anything that can POST JSON and sign it (Standard Webhooks)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="what fired, e.g. HighLatency")
    status: Literal["firing", "resolved"] = "firing"
    severity: str | None = Field(None, max_length=32)
    labels: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)
    starts_at: Instant | None = Field(None, description="when it started (default: now)")
    ends_at: Instant | None = None
    fingerprint: str | None = Field(
        None, max_length=128, description="stable id of the alert (default: hash of labels)"
    )


class Alert(BaseModel):
    """An alert from any source, as routing and risk events see it."""

    source: Source
    fingerprint: str
    status: Literal["firing", "resolved"]
    name: str | None
    severity: str | None
    labels: LabelMap
    annotations: LabelMap
    starts_at: datetime
    ends_at: datetime | None
    episode: str  # which firing: the start time, or the webhook message id

    def key(self) -> str:
        """Stable, secret-free id of this firing (used in workflow ids)."""
        digest = hashlib.sha256(f"{self.source}|{self.fingerprint}|{self.episode}".encode())
        return digest.hexdigest()[:20]


def fingerprint_of(labels: LabelMap) -> str:
    """A stable id from the labels (Alertmanager's own fingerprint when it sends one)."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _ended(value: datetime | None) -> datetime | None:
    return None if value is None or value <= ZERO_TIME else value


def from_prom(source: Source, alerts: list[PromAlert]) -> list[Alert]:
    return [
        Alert(
            source=source,
            fingerprint=alert.fingerprint or fingerprint_of(alert.labels),
            status=alert.status,
            name=alert.labels.get("alertname"),
            severity=alert.labels.get("severity"),
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.startsAt,
            ends_at=_ended(alert.endsAt),
            episode=alert.startsAt.astimezone(UTC).isoformat(),
        )
        for alert in alerts
    ]


def from_generic(alert: GenericAlert, message_id: str, received: datetime) -> Alert:
    labels = {"alertname": alert.name, **alert.labels}
    if alert.severity:
        labels.setdefault("severity", alert.severity)
    return Alert(
        source="generic",
        fingerprint=alert.fingerprint or fingerprint_of(labels),
        status=alert.status,
        name=alert.name,
        severity=labels.get("severity"),
        labels=labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at or received,
        ends_at=alert.ends_at,
        episode=alert.starts_at.astimezone(UTC).isoformat()
        if alert.starts_at
        else f"message:{message_id}",
    )
