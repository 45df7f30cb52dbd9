"""Secret parameters travel sealed: never in plain text in a history, a row, a log or a report.

A parameter the catalog flags secret (e.g. `http_call.bearer_token`) is given either as
`env:NAME` (the worker reads its environment variable when the step runs) or as a value,
which the CLI seals at once with the payload keys into `sealed:v1:<key id>:<base64>`
(AES-256-GCM). Only that text reaches Temporal, the database and every report; the step's
activity unseals it right before calling the platform. Plan files may only hold `env:`
references: a secret value does not belong in a file kept in git.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nightwatch.errors import NightwatchError

if TYPE_CHECKING:  # workflow code imports this module: the cryptography is imported lazily
    from nightwatch.codec import KeyRing

SEALED = "sealed:v1:"
ENV = "env:"
MASK = "***"
_AAD = b"nightwatch-secret-parameter"


class SecretError(NightwatchError):
    """A secret parameter cannot be sealed or unsealed."""


def is_reference(value: object) -> bool:
    """Sealed text or an `env:NAME` reference: safe to store and show."""
    return isinstance(value, str) and value.startswith((SEALED, ENV))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def seal(value: Any, ring: KeyRing) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    plain = json.dumps(value).encode()
    sealed = AESGCM(ring.keys[ring.current]).encrypt(nonce, plain, _AAD + ring.current.encode())
    return f"{SEALED}{ring.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(text: str, ring: KeyRing | None, *, path: str) -> Any:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key_id, _, encoded = text.removeprefix(SEALED).partition(":")
    if ring is None or key_id not in ring.keys:
        raise SecretError(path, f"sealed with key {key_id!r}, which this worker does not have")
    try:
        raw = base64.urlsafe_b64decode(encoded)
        plain = AESGCM(ring.keys[key_id]).decrypt(raw[:12], raw[12:], _AAD + key_id.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise SecretError(path, "sealed value is damaged or was altered") from None
    return json.loads(plain)


def seal_values(
    values: Mapping[str, Any], secret: set[str], ring: KeyRing | None, *, path: str
) -> dict[str, Any]:
    """Seal the secret ones among `values` (references and empty values stay as they are)."""
    sealed = dict(values)
    for name, value in values.items():
        if name not in secret or value is None or value == "" or is_reference(value):
            continue
        if ring is None:
            reason = "a secret value needs the payload keys to be sealed (set "
            reason += "NIGHTWATCH_PAYLOAD_KEYS or _KEY_FILE), or give env:NAME"
            raise SecretError(f"{path}.{name}", reason)
        sealed[name] = seal(value, ring)
    return sealed


def plaintext_secrets(values: Mapping[str, Any], secret: set[str] | list[str]) -> list[str]:
    """Names of secret parameters given in plain text (neither sealed nor `env:`)."""
    return sorted(
        name
        for name, value in values.items()
        if name in secret and value not in (None, "") and not is_reference(value)
    )


def reveal(values: Mapping[str, Any], ring: KeyRing | None, *, path: str) -> dict[str, Any]:
    """The values a step runs with: sealed ones unsealed, `env:` secrets read (worker side).

    Only for secret parameters does `env:` mean a reference (`secret` names them); a sealed
    value is unsealed whatever its name."""
    revealed = dict(values)
    for name, value in values.items():
        if is_sealed(value):
            revealed[name] = unseal(value, ring, path=f"{path}.{name}")
    return revealed


def reveal_env(values: dict[str, Any], secret: set[str], *, path: str) -> dict[str, Any]:
    for name in secret:
        value = values.get(name)
        if isinstance(value, str) and value.startswith(ENV):
            variable = value.removeprefix(ENV)
            if variable not in os.environ:
                raise SecretError(f"{path}.{name}", f"environment variable {variable} is not "
                                  "set on the worker")  # fmt: skip
            values[name] = os.environ[variable]
    return values


def masked(values: Mapping[str, Any], secret: set[str] | list[str]) -> dict[str, Any]:
    """As people may see them: secret and sealed values masked, `env:` references shown."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if is_sealed(value) or (name in secret and value not in (None, "")):
            shown[name] = value if isinstance(value, str) and value.startswith(ENV) else MASK
        else:
            shown[name] = value
    return shown
