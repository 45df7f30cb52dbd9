"""What every platform client shares: connection settings, timeouts, retries, errors.

- Every call has a timeout (system config `platform.http_timeout_seconds`).
- Only idempotent calls are retried here (GET, PUT, DELETE, and a POST that carries an
  idempotency key): a few quick tries with backoff on errors the platform calls
  temporary. Anything else is tried once; the step's own retry policy decides after that.
- Errors keep the platform's message and say whether a retry can help: the platform's
  own `retryable` flag wins, else 408/429/5xx and network errors are temporary and other
  4xx are permanent.
- The credential goes in the Authorization header and nowhere else: never in a log line,
  an error, an activity's input or output, so never in a workflow history.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import httpx

from nightwatch.logs import get_logger
from platforms.errors import PlatformError, raise_for_response, unreachable

log = get_logger("nightwatch.platforms")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    """How to reach one platform: from system config, never from code."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    timeout: float = 10.0


def resolve_secret(key: str, value: str | None) -> str | None:
    """A credential from system config: the value itself, or `env:NAME` for a variable of
    the worker's environment (so the secret need not be stored in the database)."""
    if not value or not value.startswith("env:"):
        return value
    name = value.removeprefix("env:")
    found = os.environ.get(name)
    if found is None:
        raise PlatformError(key, f"environment variable {name} is not set", retryable=False)
    return found


class PlatformClient:
    """An async client of one platform; use as `async with Client(endpoint) as c:`."""

    title: ClassVar[str] = "platform"

    def __init__(self, endpoint: Endpoint, *, attempts: int = 3, backoff: float = 0.2) -> None:
        self.endpoint = endpoint
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        headers = {"Accept": "application/json"}
        if self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        self._http = httpx.AsyncClient(
            base_url=self.endpoint.base_url.rstrip("/"),
            timeout=self.endpoint.timeout,
            headers=headers,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        absent_ok: bool = False,
    ) -> Any:
        """The response's JSON body; None for a 404 when `absent_ok`."""
        if self._http is None:
            raise RuntimeError("use the client as an async context manager")
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        retry = method in IDEMPOTENT_METHODS or idempotency_key is not None
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
                if absent_ok and response.status_code == 404:
                    return None
                raise_for_response(self.title, response)
            except httpx.HTTPError as exc:
                error = unreachable(self.title, exc)
            except PlatformError as exc:
                error = exc
            else:
                log.debug(
                    "platform call",
                    platform=self.title,
                    method=method,
                    path=path,
                    status=response.status_code,
                    ms=round((time.perf_counter() - started) * 1000),
                )
                return response.json() if response.content else None
            log.info(
                "platform call failed",
                platform=self.title,
                method=method,
                path=path,
                attempt=attempt,
                retryable=error.retryable,
                error=error.reason,
            )
            if not (retry and error.retryable and attempt < self._attempts):
                raise error
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
