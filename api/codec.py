"""The codec endpoint for the Temporal Web UI (`--ui-codec-endpoint <api>/codec`).

The UI posts the payloads it shows to `/codec/decode` (and the inputs people type to
`/codec/encode`), in Temporal's JSON form `{"payloads": [{"metadata": {...}, "data": "..."}]}`.
Only a signed-in viewer may use it: the console's session cookie (the UI and the API share
the site), an API token, or the provider's access token the Web UI forwards
(`TEMPORAL_CODEC_PASS_ACCESS_TOKEN`); CORS admits only the configured UI origin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from identity.guard import ViewerReading
from nightwatch.codec import EncryptionCodec, PayloadKeyError
from nightwatch.config import Settings
from nightwatch.errors import NightwatchError, NotFound


class CodecUnavailable(NotFound):
    """Payload encryption is off: nothing to decode (HTTP 404)."""


router = APIRouter(prefix="/codec", tags=["codec"])

_BODY = Body(
    examples=[{"payloads": [{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}, "data": ""}]}]
)


def _codec(request: Request) -> EncryptionCodec:
    settings: Settings = request.app.state.settings
    ring = settings.key_ring()
    if ring is None:
        raise CodecUnavailable("codec", "payload encryption is off on this server")
    return EncryptionCodec(ring)


def _payloads(body: dict[str, Any]) -> Payloads:
    try:
        return json_format.ParseDict(body, Payloads())
    except json_format.ParseError as exc:
        raise NightwatchError("payloads", f"not Temporal payloads JSON: {exc}") from None


def _answer(payloads: Payloads) -> dict[str, Any]:
    answer: dict[str, Any] = json_format.MessageToDict(payloads)
    answer.setdefault("payloads", [])
    return answer


@router.post("/decode", summary="Decrypt payloads for the Web UI")
async def decode(
    request: Request,
    body: Annotated[dict[str, Any], _BODY],
    identity: ViewerReading,
) -> dict[str, Any]:
    codec = _codec(request)
    try:
        decoded = await codec.decode(_payloads(body).payloads)
    except PayloadKeyError as exc:
        raise NightwatchError("payloads", str(exc)) from None
    return _answer(Payloads(payloads=decoded))


@router.post("/encode", summary="Encrypt payloads the Web UI sends (signal, update input)")
async def encode(
    request: Request,
    body: Annotated[dict[str, Any], _BODY],
    identity: ViewerReading,
) -> dict[str, Any]:
    codec = _codec(request)
    return _answer(Payloads(payloads=await codec.encode(_payloads(body).payloads)))
