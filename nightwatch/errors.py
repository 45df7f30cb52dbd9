"""The domain error hierarchy: every error carries a path (what is wrong) and a reason (why).

The CLI and the HTTP APIs turn these into one clear line or one JSON body; nothing else
should reach a user as a stack trace.
"""

from __future__ import annotations

from typing import Any


class NightwatchError(Exception):
    """Base of every error a user may see. `path` names the thing, `reason` says why."""

    exit_code = 1

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "path": self.path, "reason": self.reason}


class SettingsError(NightwatchError):
    """A setting is missing or has a wrong value; start-up stops."""

    exit_code = 2


class StackError(NightwatchError):
    """The local stack could not start, stop or answer."""


class DatabaseError(NightwatchError):
    """The database cannot be reached, or its schema cannot be brought up to date."""


class NotFound(NightwatchError):
    """The thing named does not exist (HTTP 404)."""


class Unauthenticated(NightwatchError):
    """No credential, or one that proves nothing (HTTP 401). The reason never says which
    part of a credential was wrong beyond what its owner needs to fix it."""


class Forbidden(NightwatchError):
    """The caller may not do this (HTTP 403)."""


class Conflict(NightwatchError):
    """The request contradicts what exists (HTTP 409)."""


class PreconditionRequired(NightwatchError):
    """A change must say which version it was made to (HTTP 428)."""
