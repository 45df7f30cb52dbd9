"""Payload encryption: AES-256-GCM with named keys, so Temporal stores only ciphertext.

Keys come from `NIGHTWATCH_PAYLOAD_KEYS` (`id:base64key,id:base64key`, the first one
encrypts) or from the JSON file `NIGHTWATCH_PAYLOAD_KEY_FILE`
(`{"current": "2026-11", "keys": {"2026-11": "<base64>", "2026-05": "<base64>"}}`).
Rotation: add a new key and make it current; keep the old ones as long as histories (and
the archive) hold payloads they encrypted. Every encrypted payload names its key id, so a
missing key is reported by name. Unencrypted payloads (written before encryption was on)
pass through decoding unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from nightwatch.errors import SettingsError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class PayloadKeyError(Exception):
    """A payload cannot be decrypted (unknown key id, or it was altered)."""


@dataclass(frozen=True)
class KeyRing:
    """Named 256-bit keys; `current` encrypts, all of them decrypt."""

    current: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise SettingsError(
                "NIGHTWATCH_PAYLOAD_KEYS", f"current key {self.current!r} is not among the keys"
            )
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise SettingsError(
                    "NIGHTWATCH_PAYLOAD_KEYS",
                    f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32 (base64 of 32 bytes)",
                )

    @classmethod
    def parse(cls, entries: Sequence[str], *, source: str) -> KeyRing:
        """From `id:base64` entries, the first being current."""
        keys: dict[str, bytes] = {}
        for entry in entries:
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id.strip():
                raise SettingsError(source, "each key is written id:base64key")
            keys[key_id.strip()] = _decode_key(source, key_id, encoded.strip())
        if not keys:
            raise SettingsError(source, "no keys given")
        return cls(current=next(iter(keys)), keys=keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        source = "NIGHTWATCH_PAYLOAD_KEY_FILE"
        try:
            document = json.loads(path.read_text())
            current = document["current"]
            raw = document["keys"]
        except FileNotFoundError:
            raise SettingsError(source, f"key file {path} does not exist") from None
        except (ValueError, KeyError, TypeError):
            raise SettingsError(
                source,
                f'{path}: expected JSON {{"current": "<id>", "keys": {{"<id>": "<base64>"}}}}',
            ) from None
        if not isinstance(raw, dict) or not isinstance(current, str):
            raise SettingsError(source, f"{path}: keys must be an object, current a string")
        keys = {str(k): _decode_key(source, str(k), str(v)) for k, v in raw.items()}
        return cls(current=current, keys=keys)

    @staticmethod
    def new_key() -> str:
        return base64.b64encode(os.urandom(32)).decode()


def _decode_key(source: str, key_id: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(source, f"key {key_id!r} is not valid base64") from None


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write a key file readable by its owner only."""
    document = {
        "current": ring.current,
        "keys": {k: base64.b64encode(v).decode() for k, v in ring.keys.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)


class EncryptionCodec(PayloadCodec):
    """AES-GCM over the whole serialised payload (its metadata included)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self.ring.current
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload encrypted with key {key_id!r}, which this process "
                "does not have (NIGHTWATCH_PAYLOAD_KEYS / _KEY_FILE)"
            )
        try:
            plain = cipher.decrypt(
                payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:], key_id.encode()
            )
        except InvalidTag:
            raise PayloadKeyError(f"payload under key {key_id!r} was altered") from None
        return Payload.FromString(plain)
