"""The codec endpoint for the Temporal Web UI (`--ui-codec-endpoint <api>/codec`).

The UI posts the payloads it shows to `/codec/decode` (and the inputs people type to
`/codec/encode`), in Temporal's JSON form `{"payloads": [{"metadata": {...}, "data": "..."}]}`.
With `NIGHTWATCH_CODEC_TOKENS` set, a call needs `Authorization: Bearer <token>` (the UI
forwards the operator's token); in production the endpoint answers nothing without them.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from nightwatch.codec import EncryptionCodec, PayloadKeyError
from nightwatch.config import Settings
from nightwatch.errors import Forbidden, NightwatchError, NotFound


class CodecRefused(Forbidden):
    """The caller may not use the codec endpoint (HTTP 403)."""


class CodecUnavailable(NotFound):
    """Payload encryption is off: nothing to decode (HTTP 404)."""


router = APIRouter(prefix="/codec", tags=["codec"])

_BODY = Body(
    examples=[{"payloads": [{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}, "data": ""}]}]
)


def _codec(request: Request, authorization: str | None) -> EncryptionCodec:
    settings: Settings = request.app.state.settings
    ring = settings.key_ring()
    if ring is None:
        raise CodecUnavailable("codec", "payload encryption is off on this server")
    tokens = settings.entries(settings.codec_tokens)
    if tokens:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not any(hmac.compare_digest(given, token) for token in tokens):
            raise CodecRefused("Authorization", "a codec token is required (Bearer)")
    elif settings.env == "production":
        raise CodecRefused("codec", "set NIGHTWATCH_CODEC_TOKENS to open the codec endpoint")
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
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    codec = _codec(request, authorization)
    try:
        decoded = await codec.decode(_payloads(body).payloads)
    except PayloadKeyError as exc:
        raise NightwatchError("payloads", str(exc)) from None
    return _answer(Payloads(payloads=decoded))


@router.post("/encode", summary="Encrypt payloads the Web UI sends (signal, update input)")
async def encode(
    request: Request,
    body: Annotated[dict[str, Any], _BODY],
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    codec = _codec(request, authorization)
    return _answer(Payloads(payloads=await codec.encode(_payloads(body).payloads)))
