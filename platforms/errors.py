"""Platform errors keep the platform's own message and say whether a retry can help."""

from __future__ import annotations

from typing import Any

import httpx

from nightwatch.errors import NightwatchError


class PlatformError(NightwatchError):
    def __init__(self, platform: str, reason: str, *, retryable: bool) -> None:
        super().__init__(platform, reason)
        self.retryable = retryable


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    detail = body.get("detail")
    return detail if isinstance(detail, dict) else body  # FastAPI's {"detail": {...}}


def raise_for_response(platform: str, response: httpx.Response) -> None:
    """Raise a PlatformError for a non-2xx answer: the platform's message kept, and its own
    `retryable` flag if it gives one (else 408/429/5xx temporary, other 4xx permanent)."""
    if response.is_success:
        return
    body = _body(response)
    message = body.get("message") or response.text[:500] or response.reason_phrase
    said = body.get("retryable")
    retryable = (
        said
        if isinstance(said, bool)
        else response.status_code >= 500 or response.status_code in (408, 429)
    )
    raise PlatformError(platform, f"HTTP {response.status_code}: {message}", retryable=retryable)


def unreachable(platform: str, exc: httpx.HTTPError) -> PlatformError:
    return PlatformError(platform, f"unreachable: {type(exc).__name__}", retryable=True)
