"""Who may send alerts, per source, as each sender can really authenticate.

- Alertmanager sends static credentials only: a bearer token (`authorization`) or basic
  auth (or a client certificate, checked by the TLS proxy in front). Several tokens may be
  valid at once, for rotation.
- Grafana signs the body with HMAC-SHA256 (`X-Grafana-Alerting-Signature`), optionally over
  `timestamp:body` with the timestamp in `X-Grafana-Alerting-Signature-Timestamp`; the
  intake can require the timestamp (then a captured message cannot be replayed).
- The generic source uses Standard Webhooks: `webhook-id`, `webhook-timestamp`,
  `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`), a secret
  `whsec_<base64>`, and a 5-minute tolerance.
Every comparison is constant-time. A refusal says why in one line (never the body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 300


class Unauthorized(Exception):
    """The request does not prove it comes from a configured sender."""


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def check_static(
    headers: Mapping[str, str], tokens: list[str], basic: list[str], *, client_cert: bool = False
) -> None:
    """Bearer token or basic auth, against any of the valid ones; or, where the listener
    demands client certificates (`client_cert`), the certificate the TLS layer verified."""
    given = headers.get("authorization", "")
    if client_cert and not given:
        return
    if not tokens and not basic:
        raise Unauthorized("alertmanager: no credentials are configured for this source")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "bearer" and value:
        if any(_equal(value, token) for token in tokens):
            return
        raise Unauthorized("alertmanager: bearer token not accepted")
    if scheme.lower() == "basic" and value:
        try:
            pair = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("alertmanager: malformed basic credentials") from None
        if any(_equal(pair, allowed) for allowed in basic):
            return
        raise Unauthorized("alertmanager: basic credentials not accepted")
    raise Unauthorized("alertmanager: missing credentials (bearer token or basic auth)")


def _fresh(timestamp: str, now: float, what: str) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthorized(f"{what}: timestamp is not a number") from None
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise Unauthorized(f"{what}: timestamp outside the {TOLERANCE_SECONDS} s tolerance")


def check_grafana(
    headers: Mapping[str, str],
    body: bytes,
    secrets: list[str],
    now: float | None = None,
    *,
    require_timestamp: bool = False,
) -> None:
    """A signature over the body alone proves who sent it but not when: a copy of the
    message can be sent again forever. `require_timestamp` refuses those."""
    if not secrets:
        raise Unauthorized("grafana: no signing secret is configured for this source")
    signature = headers.get("x-grafana-alerting-signature", "")
    if not signature:
        raise Unauthorized("grafana: missing X-Grafana-Alerting-Signature")
    timestamp = headers.get("x-grafana-alerting-signature-timestamp")
    if timestamp is None and require_timestamp:
        raise Unauthorized(
            "grafana: missing X-Grafana-Alerting-Signature-Timestamp (this "
            "intake requires messages signed over a timestamp)"
        )
    signed = body
    if timestamp is not None:
        _fresh(timestamp, time.time() if now is None else now, "grafana")
        signed = timestamp.encode() + b":" + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if _equal(signature.lower(), expected):
            return
    raise Unauthorized("grafana: signature does not match")


def _webhook_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw)
    except ValueError:
        return raw.encode()


def sign_standard(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature of a message (for senders and tests)."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_webhook_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def check_standard(
    headers: Mapping[str, str], body: bytes, secrets: list[str], now: float | None = None
) -> str:
    """Verify a Standard Webhooks message; return its id (the idempotency key)."""
    if not secrets:
        raise Unauthorized("generic: no webhook secret is configured for this source")
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise Unauthorized("generic: missing webhook-id, webhook-timestamp or webhook-signature")
    _fresh(timestamp, time.time() if now is None else now, "generic")
    given = [part for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = sign_standard(secret, message_id, int(timestamp), body)
        if any(_equal(candidate, expected) for candidate in given):
            return message_id
    raise Unauthorized("generic: signature does not match")
