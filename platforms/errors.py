"""Platform errors keep the platform's own message and say whether a retry can help."""

from __future__ import annotations

import httpx

from nightwatch.errors import NightwatchError


class PlatformError(NightwatchError):
    def __init__(self, platform: str, reason: str, *, retryable: bool) -> None:
        super().__init__(platform, reason)
        self.retryable = retryable


def raise_for_response(platform: str, response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        message = response.json().get("message") or response.text
    except ValueError:
        message = response.text
    retryable = response.status_code >= 500 or response.status_code in (408, 429)
    raise PlatformError(platform, f"HTTP {response.status_code}: {message}", retryable=retryable)


def unreachable(platform: str, exc: httpx.HTTPError) -> PlatformError:
    return PlatformError(platform, f"unreachable: {type(exc).__name__}", retryable=True)
