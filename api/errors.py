"""Errors as JSON with the same paths the CLI prints: {error, path, reason, problems}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError

from catalog.options import OptionsError
from catalog.views import CatalogNotSynced
from executions.inspections import InspectionsUnavailable
from executions.service import ExecutionExists, InvalidFill, Refused
from identity.throttle import TooManyFailures
from inspection.model import InspectionInvalid
from nightwatch import web
from nightwatch.errors import NightwatchError
from nightwatch.logs import get_logger
from nightwatch.temporal import TemporalUnavailable
from plans.validation import PlanInvalid, Problem
from platforms.errors import PlatformError

log = get_logger("nightwatch.api")


class ErrorBody(BaseModel):
    error: str
    path: str
    reason: str
    problems: list[Problem] = []


# Every route that needs a caller answers these (identity/guard.py).
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no credential, or one that proves nothing"},
    403: {"model": ErrorBody, "description": "your roles do not allow this (or no CSRF token)"},
}


def _status(exc: NightwatchError) -> int:
    if isinstance(exc, Refused | ExecutionExists):
        return 409
    if isinstance(exc, TooManyFailures):
        return 429
    if isinstance(exc, TemporalUnavailable | InspectionsUnavailable):
        return 503
    if isinstance(exc, PlanInvalid | OptionsError | InspectionInvalid | InvalidFill):
        return 422
    if isinstance(exc, PlatformError | CatalogNotSynced):
        return 503 if getattr(exc, "retryable", True) else 502
    return web.kernel_status(exc)


def _problem_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part + 1}]"] if parts else [f"[{part + 1}]"]
        else:
            parts.append(str(part))
    return ".".join(parts) or "(body)"


def install(app: FastAPI) -> None:
    @app.exception_handler(NightwatchError)
    async def domain_error(request: Request, exc: NightwatchError) -> JSONResponse:
        return web.domain_error_response(exc, _status(exc))

    @app.exception_handler(DataError)
    async def refused_value(request: Request, exc: DataError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse(
            status_code=422,
            content={
                "error": "InvalidValue",
                "path": "(body)",
                "problems": [],
                "reason": f"the database refused a value: {reason}",
            },
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the API", path=request.url.path)
        return JSONResponse(
            status_code=500,
            content={
                "error": "InternalError",
                "path": request.url.path,
                "reason": "unexpected error; the server log has the details",
                "problems": [],
            },
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "path": _problem_path(tuple(error["loc"])),
                "reason": "unknown key" if error["type"] == "extra_forbidden" else error["msg"],
            }
            for error in exc.errors()
        ]
        first = problems[0] if problems else {"path": "(body)", "reason": "invalid request"}
        return JSONResponse(
            status_code=422,
            content={"error": "InvalidRequest", **first, "problems": problems},
        )
