"""What every HTTP service of Nightwatch shares (plan API, alert intake, simulator): the
one JSON error body `{error, path, reason, problems}`, JSON nested too deep refused before
it is parsed, and API documentation served from the app itself (banks run offline: no CDN).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nightwatch.errors import (
    Conflict,
    Forbidden,
    NightwatchError,
    NotFound,
    PreconditionRequired,
    Unauthenticated,
)

# Deeper than any document we accept (a plan is about 8 levels deep), shallow enough that
# no parser recursion or memory blow-up is reachable from outside.
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def error_body(
    error: str, path: str, reason: str, problems: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": error, "path": path, "reason": reason, "problems": problems or []}


def error_response(
    status: int, error: str, path: str, reason: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(error, path, reason), status_code=status, headers=headers)


def kernel_status(exc: NightwatchError) -> int:
    """The HTTP status of the kernel's errors (a service maps its own errors first)."""
    for kind, status in (
        (NotFound, 404),
        (Unauthenticated, 401),
        (Forbidden, 403),
        (Conflict, 409),
        (PreconditionRequired, 428),
    ):
        if isinstance(exc, kind):
            return status
    return 400


def domain_error_response(exc: NightwatchError, status: int) -> JSONResponse:
    """A domain error in the shared shape; a 401 says how to authenticate."""
    body = exc.to_dict()
    body.setdefault("problems", [])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=body, headers=headers)


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in `body` (strings skipped), without parsing it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc load their scripts from the app, not a CDN."""
    return FastAPIOffline(**kwargs)


def install(app: FastAPI, *, max_body_bytes: int | None = None) -> None:
    """The shared error shape for HTTP errors FastAPI itself raises (unknown route, wrong
    method…), and the nesting limit on every request body."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(
            exc.status_code,
            _http_error_name(exc.status_code),
            "(request)",
            str(exc.detail),
            headers=exc.headers,
        )

    app.add_middleware(JsonNestingLimit, max_body_bytes=max_body_bytes)


def _http_error_name(status: int) -> str:
    return {404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge", 415: "UnsupportedMedia"}.get(
        status, "HttpError"
    )


class JsonNestingLimit:
    """ASGI middleware: a request body nested deeper than MAX_JSON_DEPTH (or larger than
    `max_body_bytes`) is answered 422 (413) in the shared error shape before anything parses
    it; other bodies reach the app unchanged."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | None = None) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if self.max_body_bytes is not None and size > self.max_body_bytes:
                reason = f"body over the {self.max_body_bytes} byte limit"
                await error_response(413, "TooLarge", "(body)", reason)(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if json_depth(body) > MAX_JSON_DEPTH:
            reason = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            await error_response(422, "InvalidJSON", "(body)", reason)(scope, receive, send)
            return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed
