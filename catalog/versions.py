"""Which of two server versions is newer: rows written by a newer server are never overwritten."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def is_newer(candidate: str | None, than: str) -> bool:
    """True when `candidate` is a strictly newer version than `than` (unknown: not newer)."""
    if not candidate:
        return False
    try:
        return Version(candidate) > Version(than)
    except InvalidVersion:
        return False
