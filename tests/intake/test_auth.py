"""Sender authentication as pure functions: Grafana's signature with and without its
timestamp, and the setting that requires one."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from intake.auth import Unauthorized, check_grafana

SECRET = "grafana-secret"
BODY = b'{"status": "firing"}'
NOW = 1_800_000_000


def _headers(*, stamped: bool) -> dict[str, str]:
    signed = f"{NOW}:".encode() + BODY if stamped else BODY
    headers = {
        "x-grafana-alerting-signature": hmac.new(
            SECRET.encode(), signed, hashlib.sha256
        ).hexdigest()
    }
    if stamped:
        headers["x-grafana-alerting-signature-timestamp"] = str(NOW)
    return headers


def test_a_body_only_signature_is_taken_unless_the_timestamp_is_required() -> None:
    check_grafana(_headers(stamped=False), BODY, [SECRET], NOW)
    with pytest.raises(Unauthorized, match="missing X-Grafana-Alerting-Signature-Timestamp"):
        check_grafana(_headers(stamped=False), BODY, [SECRET], NOW, require_timestamp=True)


def test_a_timestamped_signature_is_taken_while_fresh_only() -> None:
    check_grafana(_headers(stamped=True), BODY, [SECRET], NOW, require_timestamp=True)
    with pytest.raises(Unauthorized, match="outside the 300 s tolerance"):
        check_grafana(_headers(stamped=True), BODY, [SECRET], NOW + 301, require_timestamp=True)
