"""Secret parameters travel sealed: never in plain text in a history, a row, a log or a report.

A parameter the catalog flags secret (e.g. `http_call.bearer_token`) is given either as
`env:NAME` (the worker reads its environment variable when the step runs) or as a value,
which the CLI seals at once with the payload keys into `sealed:v2:<key id>:<base64>`
(AES-256-GCM). Only that text reaches Temporal, the database and every report; the step's
activity unseals it right before calling the platform. Plan files may only hold `env:`
references: a secret value does not belong in a file kept in git.

A sealed value is bound to what it was sealed for: the execution, the node and the
parameter are its authenticated data, so a value copied out of one history unseals nowhere
else (and execution ids are never reused: activities/creation.py). Values of the first
format (`sealed:v1:`, bound to nothing) are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nightwatch.errors import NightwatchError
from nightwatch.masking import (
    ENV,
    MASK,
    SEALED,
    UNBOUND,
    is_reference,
    is_sealed,
    masked,
    plaintext_secrets,
)

if TYPE_CHECKING:
    from nightwatch.codec import KeyRing

# Recognising and masking sealed values is nightwatch/masking.py's (workflow code uses it).
__all__ = [
    "ENV",
    "MASK",
    "SEALED",
    "UNBOUND",
    "SecretError",
    "is_reference",
    "is_sealed",
    "masked",
    "plaintext_secrets",
    "reseal",
    "reveal",
    "reveal_env",
    "seal",
    "seal_values",
    "unseal",
]

_AAD = b"nightwatch-secret-parameter"


class SecretError(NightwatchError):
    """A secret parameter cannot be sealed or unsealed."""


def _aad(key_id: str, execution: str, node: str, param: str) -> bytes:
    """What a value is sealed for, authenticated by the AEAD (unambiguous: JSON)."""
    return _AAD + json.dumps([key_id, execution, node, param]).encode()


def seal(value: Any, ring: KeyRing, *, execution: str, node: str, param: str) -> str:
    """Seal `value` for parameter `param` of node `node` in execution `execution` only."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    plain = json.dumps(value).encode()
    aad = _aad(ring.current, execution, node, param)
    sealed = AESGCM(ring.keys[ring.current]).encrypt(nonce, plain, aad)
    return f"{SEALED}{ring.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(
    text: str, ring: KeyRing | None, *, path: str, execution: str, node: str, param: str
) -> Any:
    """The plain value, if `text` was sealed for exactly this execution, node and parameter."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if text.startswith(UNBOUND):
        raise SecretError(
            path,
            "sealed by an earlier version, bound to no execution: give "
            "the value again (`nightwatch fill` / `run --set` seal it)",
        )
    key_id, _, encoded = text.removeprefix(SEALED).partition(":")
    if ring is None or key_id not in ring.keys:
        raise SecretError(path, f"sealed with key {key_id!r}, which this worker does not have")
    try:
        raw = base64.urlsafe_b64decode(encoded)
        aad = _aad(key_id, execution, node, param)
        plain = AESGCM(ring.keys[key_id]).decrypt(raw[:12], raw[12:], aad)
    except (binascii.Error, ValueError, InvalidTag):
        raise SecretError(
            path,
            "sealed value was not sealed for this execution, node and parameter (or it is damaged)",
        ) from None
    return json.loads(plain)


def reseal(
    text: str, ring: KeyRing | None, *, frm: tuple[str, str], to: tuple[str, str], param: str
) -> str:
    """A sealed value moved from (execution, node) to another: a re-run carrying it over."""
    value = unseal(text, ring, path=f"{to[1]}.{param}", execution=frm[0], node=frm[1], param=param)
    assert ring is not None  # unseal succeeded
    return seal(value, ring, execution=to[0], node=to[1], param=param)


def seal_values(
    values: Mapping[str, Any],
    secret: set[str],
    ring: KeyRing | None,
    *,
    path: str,
    execution: str,
    node: str,
) -> dict[str, Any]:
    """Seal the secret ones among a node's `values` for that execution and node
    (references and empty values stay as they are)."""
    sealed = dict(values)
    for name, value in values.items():
        if name not in secret or value is None or value == "" or is_reference(value):
            continue
        if ring is None:
            reason = "a secret value needs the payload keys to be sealed (set "
            reason += "NIGHTWATCH_PAYLOAD_KEYS or _KEY_FILE), or give env:NAME"
            raise SecretError(f"{path}.{name}", reason)
        sealed[name] = seal(value, ring, execution=execution, node=node, param=name)
    return sealed


def reveal(
    values: Mapping[str, Any], ring: KeyRing | None, *, path: str, execution: str, node: str
) -> dict[str, Any]:
    """The values node `node` of `execution` runs with: sealed ones unsealed (worker side).

    Only for secret parameters does `env:` mean a reference (`reveal_env`); a sealed value
    is unsealed whatever its name, and only if it was sealed for this very place."""
    revealed = dict(values)
    for name, value in values.items():
        if is_sealed(value):
            revealed[name] = unseal(
                value, ring, path=f"{path}.{name}", execution=execution, node=node, param=name
            )
    return revealed


def reveal_env(values: dict[str, Any], secret: set[str], *, path: str) -> dict[str, Any]:
    for name in secret:
        value = values.get(name)
        if isinstance(value, str) and value.startswith(ENV):
            variable = value.removeprefix(ENV)
            if variable not in os.environ:
                raise SecretError(
                    f"{path}.{name}", f"environment variable {variable} is not set on the worker"
                )
            values[name] = os.environ[variable]
    return values
