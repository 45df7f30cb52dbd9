"""Failed sign-ins slowed per client address, beside each account's own lock: someone
trying one password on many usernames (which no account's lock notices) is refused for a
while after `LIMIT` failures within `WINDOW`, whichever usernames they named."""

from __future__ import annotations

import time
from collections import deque
from threading import Lock

from nightwatch.errors import NightwatchError

LIMIT = 10
WINDOW = 300.0  # seconds
KEPT = 10_000  # addresses remembered at most (the oldest forgotten first)


class TooManyFailures(NightwatchError):
    """Too many failed sign-ins from this address lately (HTTP 429)."""


class SignInThrottle:
    def __init__(self, limit: int = LIMIT, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = Lock()

    def check(self, address: str) -> None:
        """TooManyFailures when `address` failed `limit` times within the window."""
        now = time.monotonic()
        with self._lock:
            recent = self._failures.get(address)
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if recent and len(recent) >= self.limit:
                wait = int(self.window - (now - recent[0])) + 1
                raise TooManyFailures(
                    "sign-in", f"too many failed sign-ins from your address: try again in {wait} s"
                )

    def failed(self, address: str) -> None:
        with self._lock:
            if address not in self._failures and len(self._failures) >= KEPT:
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(address, deque(maxlen=self.limit)).append(time.monotonic())
