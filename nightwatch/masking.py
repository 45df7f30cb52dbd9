"""What a secret parameter's value looks like, for code that must never reveal one:
sealed text and `env:` references are recognised, secrets are masked for people.

Pure: workflow code imports it (sealing and unsealing, which read keys and the
environment, are nightwatch/sealing.py's and run in activities only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEALED = "sealed:v2:"
UNBOUND = "sealed:v1:"  # the first format: bound to no execution, refused since
ENV = "env:"
MASK = "***"


def is_reference(value: object) -> bool:
    """Sealed text or an `env:NAME` reference: safe to store and show."""
    return isinstance(value, str) and value.startswith((SEALED, UNBOUND, ENV))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith((SEALED, UNBOUND))


def plaintext_secrets(values: Mapping[str, Any], secret: set[str] | list[str]) -> list[str]:
    """Names of secret parameters given in plain text (neither sealed nor `env:`)."""
    return sorted(
        name
        for name, value in values.items()
        if name in secret and value not in (None, "") and not is_reference(value)
    )


def masked(values: Mapping[str, Any], secret: set[str] | list[str]) -> dict[str, Any]:
    """As people may see them: secret and sealed values masked, `env:` references shown."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if is_sealed(value) or (name in secret and value not in (None, "")):
            shown[name] = value if isinstance(value, str) and value.startswith(ENV) else MASK
        else:
            shown[name] = value
    return shown
