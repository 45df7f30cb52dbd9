"""The CLI's way to the API: one HTTP client carrying the credential `nightwatch login`
stored (or NIGHTWATCH_TOKEN), turning the API's error bodies into one-line errors.

Credentials are kept per API address in one JSON file readable by its owner only (0600);
a token is never printed or logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from nightwatch.config import Settings
from nightwatch.errors import NightwatchError, Unauthenticated

TIMEOUT = httpx.Timeout(90.0, connect=10.0)


class ApiUnavailable(NightwatchError):
    """The API could not be reached."""


class ApiRefused(NightwatchError):
    """The API refused the call; `problems` are every {path, reason} it named."""

    def __init__(
        self,
        path: str,
        reason: str,
        status: int,
        problems: list[dict[str, Any]],
        error: str = "",
    ) -> None:
        super().__init__(path, reason)
        self.status, self.problems, self.error = status, problems, error


def read_credentials(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        raise NightwatchError(
            str(path), "not a credentials file: `nightwatch login` again"
        ) from None
    return found if isinstance(found, dict) else {}


def store_credential(path: Path, api_url: str, entry: dict[str, Any]) -> None:
    """Keep the credential for `api_url`."""
    stored = read_credentials(path)
    stored[api_url] = entry
    _write(path, stored)


def forget_credential(path: Path, api_url: str) -> dict[str, Any] | None:
    stored = read_credentials(path)
    entry = stored.pop(api_url, None)
    if entry is not None:
        _write(path, stored)
    return entry


def _write(path: Path, stored: dict[str, Any]) -> None:
    """The file written 0600 from its first byte, replaced whole."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(stored, handle, indent=2)
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def segment(value: str) -> str:
    """One piece of an API path as a person typed it (an id, a node key), quoted."""
    return quote(value, safe="")


def token_of(settings: Settings) -> str | None:
    if settings.token.get_secret_value():
        return settings.token.get_secret_value()
    entry = read_credentials(settings.effective_credentials_file).get(settings.effective_api_url)
    token = (entry or {}).get("token")
    return str(token) if token else None


class Api:
    """Calls to one API as the signed-in person."""

    def __init__(
        self, settings: Settings, *, token: str | None = None, url: str | None = None
    ) -> None:
        """The API (or another Nightwatch service at `url`, the intake) as the person
        signed in to the API."""
        self.url = url or settings.effective_api_url
        self.token = token if token is not None else token_of(settings)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.url, timeout=TIMEOUT, headers=headers)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.InvalidURL as exc:
            raise NightwatchError(path, f"not a valid address: {exc}") from None
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                "api", f"cannot reach {self.url}: {type(exc).__name__} (is it running?)"
            ) from None
        if response.status_code == 401:
            body = _body(response)
            hint = "" if self.token else " (not signed in: `nightwatch login`)"
            raise Unauthenticated(body.get("path") or "api", f"{body.get('reason')}{hint}")
        if response.status_code >= 400:
            body = _body(response)
            raise ApiRefused(
                body.get("path") or path,
                str(body.get("reason")),
                response.status_code,
                list(body.get("problems") or []),
                str(body.get("error") or ""),
            )
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body if body is not None else {}, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"reason": f"HTTP {response.status_code}: {response.text[:200]}"}
    return body if isinstance(body, dict) else {"reason": str(body)[:200]}
