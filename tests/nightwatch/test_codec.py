"""Payload encryption: round trip, key rotation, the codec endpoint the Web UI calls."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from nightwatch.codec import ENCODING, EncryptionCodec, KeyRing, PayloadKeyError, write_key_file
from nightwatch.config import load_settings
from nightwatch.errors import SettingsError
from nightwatch.temporal import data_converter
from tests.support import bearer, serve, token_for
from workflows.models import Fill

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.b64encode(b"n" * 32).decode()


def _payload(value: object) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


def test_round_trip_keeps_the_payload_and_hides_its_value() -> None:
    codec = EncryptionCodec(KeyRing.parse([f"k1:{OLD}"], source="test"))
    plain = _payload({"node": "3", "values": {"pods": 4}, "user": "li.wei"})
    sealed = codec.encrypt(plain)
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"li.wei" not in sealed.data and b"pods" not in sealed.SerializeToString()
    assert codec.decrypt(sealed) == plain
    assert codec.encrypt(plain).data != sealed.data  # a fresh nonce every time


def test_rotation_new_key_encrypts_old_payloads_stay_readable() -> None:
    before = EncryptionCodec(KeyRing.parse([f"2026-05:{OLD}"], source="test"))
    after = EncryptionCodec(KeyRing.parse([f"2026-11:{NEW}", f"2026-05:{OLD}"], source="test"))
    old = before.encrypt(_payload("written before the rotation"))
    new = after.encrypt(_payload("written after"))
    assert new.metadata["encryption-key-id"] == b"2026-11"
    assert after.decrypt(old) == _payload("written before the rotation")
    with pytest.raises(PayloadKeyError, match="key '2026-11'"):
        before.decrypt(new)  # a process without the new key names the key it lacks


def test_altered_payload_and_plain_payload() -> None:
    codec = EncryptionCodec(KeyRing.parse([f"k1:{OLD}"], source="test"))
    sealed = codec.encrypt(_payload("x"))
    # One bit flipped (overwriting the last byte with a fixed value left it unchanged 1 in
    # 256 runs, a flaky test).
    altered = Payload(
        metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(PayloadKeyError, match="altered"):
        codec.decrypt(altered)
    plain = _payload("written before encryption was on")
    assert codec.decrypt(plain) == plain


def test_data_converter_round_trips_models() -> None:
    converter = data_converter(KeyRing.parse([f"k1:{OLD}"], source="test"))
    fill = Fill(node="3", user="li.wei", values={"pods": 4})

    async def go() -> Fill:
        payloads = await converter.encode([fill])
        assert payloads[0].metadata["encoding"] == ENCODING
        decoded: list[Fill] = await converter.decode(payloads, [Fill])
        return decoded[0]

    assert asyncio.run(go()) == fill


def test_key_file_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyRing.parse([f"b:{NEW}", f"a:{OLD}"], source="test"))
    assert path.stat().st_mode & 0o777 == 0o600
    settings = load_settings(payload_key_file=path)
    ring = settings.key_ring()
    assert settings.encrypts_payloads and ring is not None and ring.current == "b"
    assert set(ring.keys) == {"a", "b"}
    with pytest.raises(SettingsError, match="NIGHTWATCH_PAYLOAD_KEYS: key 'x' is 3 bytes"):
        load_settings(payload_keys=f"x:{base64.b64encode(b'abc').decode()}")
    with pytest.raises(SettingsError, match="NIGHTWATCH_PAYLOAD_KEYS: each key is written"):
        load_settings(payload_keys="no-colon")
    path.write_text("{not json")
    with pytest.raises(SettingsError, match=r"NIGHTWATCH_PAYLOAD_KEY_FILE: .*expected JSON"):
        load_settings(payload_key_file=path)
    monkeypatch.setenv("NIGHTWATCH_HOME", str(tmp_path / "empty"))
    assert load_settings().key_ring() is None  # development without keys: plain payloads
    made = tmp_path / "stack"  # the local stack's own key file is found in its home
    write_key_file(made / "payload-keys.json", KeyRing.parse([f"local-1:{OLD}"], source="t"))
    monkeypatch.setenv("NIGHTWATCH_HOME", str(made))
    assert load_settings().key_ring() == KeyRing.parse([f"local-1:{OLD}"], source="t")


def test_production_always_encrypts(monkeypatch: pytest.MonkeyPatch) -> None:
    production = {
        "env": "production",
        "database_url": "postgresql://db/x",
        "temporal_address": "temporal:7233",
    }
    with pytest.raises(SettingsError, match=r"payload encryption is on .* no keys are set"):
        load_settings(**production)
    assert load_settings(**production, payload_keys=f"k:{OLD}").encrypts_payloads
    with pytest.raises(SettingsError, match=r"never sends plain-text payloads"):
        load_settings(**production, payload_encryption="off")


def test_codec_endpoint_decodes_for_a_signed_in_viewer(db_url: str) -> None:
    ring = KeyRing.parse([f"k1:{OLD}"], source="test")
    sealed = EncryptionCodec(ring).encrypt(_payload({"pods": 4}))
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    settings = load_settings(
        database_url=db_url, payload_keys=f"k1:{OLD}", codec_cors_origins="http://ui:8233"
    )
    viewer = {"X-Namespace": "default", **bearer(token_for(db_url, "auditor", ["viewer"]))}
    with serve(create_app(settings)) as url:
        anonymous = httpx.post(f"{url}/codec/decode", json=body)
        assert anonymous.status_code == 401, "the codec decrypts for signed-in people only"
        decoded = httpx.post(f"{url}/codec/decode", json=body, headers=viewer)
        assert decoded.status_code == 200, decoded.text
        payload = decoded.json()["payloads"][0]
        assert json.loads(base64.b64decode(payload["data"])) == {"pods": 4}
        encoded = httpx.post(f"{url}/codec/encode", json=decoded.json(), headers=viewer)
        assert base64.b64decode(encoded.json()["payloads"][0]["metadata"]["encoding"]) == ENCODING
        # The UI's browser asks first (CORS preflight) from its own origin, and only it.
        asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
        preflight = httpx.options(
            f"{url}/codec/decode", headers={"Origin": "http://ui:8233", **asks}
        )
        assert preflight.headers["access-control-allow-origin"] == "http://ui:8233"
        other = httpx.options(f"{url}/codec/decode", headers={"Origin": "http://evil", **asks})
        assert "access-control-allow-origin" not in other.headers
        bad = httpx.post(f"{url}/codec/decode", json={"payloads": "nope"}, headers=viewer)
        assert bad.status_code == 400 and bad.json()["path"] == "payloads"


def test_a_production_api_nobody_could_sign_in_to_does_not_start(db_url: str) -> None:
    production = {
        "env": "production",
        "database_url": db_url,
        "temporal_address": "t:7233",
        "payload_keys": f"k1:{OLD}",
    }
    with pytest.raises(SettingsError, match="no way to sign in is configured"):
        create_app(load_settings(**production))
    assert create_app(load_settings(**production, local_accounts="on")) is not None


def test_codec_says_when_encryption_is_off(db_url: str) -> None:
    settings = load_settings(database_url=db_url, payload_encryption="off")
    viewer = bearer(token_for(db_url, "auditor", ["viewer"]))
    with serve(create_app(settings)) as url:
        off = httpx.post(f"{url}/codec/decode", json={"payloads": []}, headers=viewer)
        assert off.status_code == 404 and "encryption is off" in off.json()["reason"]
