"""Every console page proves who asks and checks the role (the API's route enumeration
covers documented routes; the pages are not documented, so they are enumerated here), and
whoever is not signed in is sent to the sign-in page, never shown data."""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute

from api.app import create_app
from nightwatch.config import load_settings
from tests.api.test_authorization import _guard
from tests.support import serve

# Pages anyone may open, and why.
PUBLIC = {
    ("GET", "/console/sign-in"): "how one signs in",
    ("GET", "/console/language/{language}"): "the language switch (a cookie, nothing else)",
    ("GET", "/"): "a redirect to the console",
}
# The API's own reference pages (fastapi-offline): documentation, no data.
REFERENCE = re.compile(r"^/(docs|redoc|openapi\.json)")


def _pages(db: str) -> list[tuple[str, str, APIRoute]]:
    app = create_app(load_settings(database_url=db))
    found, pending = [], list(app.routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
        elif isinstance(route, APIRoute) and not route.include_in_schema:
            found += [(m, route.path, route) for m in sorted(route.methods or ())]
    return found


def test_every_page_checks_who_asks(catalog_db: str) -> None:
    pages = _pages(catalog_db)
    assert len(pages) >= 12, pages
    unguarded = [
        f"{m} {p}"
        for m, p, route in pages
        if (m, p) not in PUBLIC and not REFERENCE.match(p) and not _guard(route)[0]
    ]
    assert unguarded == []


def test_whoever_is_not_signed_in_is_sent_to_sign_in(catalog_db: str) -> None:
    app = create_app(load_settings(database_url=catalog_db, cookie_secure=False))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for method, path, _ in _pages(catalog_db):
            if (method, path) in PUBLIC or REFERENCE.match(path):
                continue
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            answer = http.request(method, concrete)
            assert answer.status_code == 303, (path, answer.status_code, answer.text[:200])
            assert answer.headers["location"].startswith("/console/sign-in?next="), path
            assert "Content-Security-Policy" in answer.headers
        page = http.get("/console/sign-in")
        assert (
            page.status_code == 200
            and "script-src 'self'" in page.headers["Content-Security-Policy"]
        )
        assert http.get("/console/sign-in?next=//evil.example").text.count("//evil") == 0
