"""Signing in: local accounts to a session cookie (HttpOnly, SameSite, Secure) whose writes
need its CSRF token, sessions that end (sign-out, idle, absolute), failed sign-ins
slowed, a password turned into a CLI token, and the bank's OpenID provider through the
API's own routes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from api.app import create_app
from identity import accounts
from identity.model import Role
from nightwatch.config import Settings, load_settings
from storage.db import session_factory
from storage.models import ApiToken, WebSession
from tests.identity.oidc_server import INSTALLED, NODE, REDIRECT, SECRET, OidcServer
from tests.support import bearer, serve, token_for

PASSWORD = "correct horse battery staple"


def _account(db: str, username: str = "li.wei", roles: tuple[Role, ...] = (Role.OPERATOR,)) -> None:
    with session_factory(db)() as session:
        accounts.create(session, username, PASSWORD, frozenset(roles), by="tests")
        session.commit()


@pytest.fixture
def plain_http(db_url: str) -> Iterator[str]:
    """The API with session cookies allowed over plain HTTP (tests talk to 127.0.0.1)."""
    with serve(create_app(load_settings(database_url=db_url, cookie_secure=False))) as url:
        yield url


def _session_cookie(response: httpx.Response) -> str:
    header = response.headers["set-cookie"]
    match = re.match(r"nightwatch_session=([^;]+);", header)
    assert match, header
    return match.group(1)


def test_a_session_cookie_is_httponly_samesite_secure_by_default(db_url: str) -> None:
    _account(db_url)
    with serve(create_app(load_settings(database_url=db_url))) as url:
        answer = httpx.post(f"{url}/auth/login", json={"username": "li.wei", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    attributes = {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes
    assert answer.json()["user"] == "li.wei" and answer.json()["csrf_token"]


def test_writes_with_the_cookie_need_its_csrf_token_and_sign_out_ends_it(
    plain_http: str, db_url: str
) -> None:
    _account(db_url)
    signed_in = httpx.post(
        f"{plain_http}/auth/login", json={"username": "li.wei", "password": PASSWORD}
    )
    cookie = {"Cookie": f"nightwatch_session={_session_cookie(signed_in)}"}
    csrf = signed_in.json()["csrf_token"]
    me = httpx.get(f"{plain_http}/auth/me", headers=cookie).json()
    assert (me["user"], me["roles"], me["proven_by"]) == (
        "li.wei",
        ["operator"],
        "local-account li.wei",
    )
    assert me["csrf_token"] == csrf
    body = {"name": "laptop", "roles": ["operator"]}
    forged = httpx.post(f"{plain_http}/api/v1/tokens", json=body, headers=cookie)
    assert forged.status_code == 403 and forged.json()["path"] == "X-CSRF-Token"
    wrong = httpx.post(
        f"{plain_http}/api/v1/tokens", json=body, headers={**cookie, "X-CSRF-Token": "guess"}
    )
    assert wrong.status_code == 403
    with session_factory(db_url)() as session:
        assert session.scalars(select(ApiToken)).all() == [], "refused writes wrote nothing"
    made = httpx.post(
        f"{plain_http}/api/v1/tokens", json=body, headers={**cookie, "X-CSRF-Token": csrf}
    )
    assert made.status_code == 201, made.text
    out = httpx.post(f"{plain_http}/auth/logout", headers={**cookie, "X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert httpx.get(f"{plain_http}/auth/me", headers=cookie).status_code == 401


def test_sessions_end_when_idle_and_at_their_absolute_expiry(plain_http: str, db_url: str) -> None:
    _account(db_url)
    cookies = []
    for _ in range(2):
        answer = httpx.post(
            f"{plain_http}/auth/login", json={"username": "li.wei", "password": PASSWORD}
        )
        cookies.append({"Cookie": f"nightwatch_session={_session_cookie(answer)}"})
    for cookie in cookies:
        assert httpx.get(f"{plain_http}/auth/me", headers=cookie).status_code == 200
    with session_factory(db_url)() as session:
        first, second = session.scalars(select(WebSession).order_by(WebSession.id)).all()
        long_ago = datetime.now(UTC) - timedelta(minutes=31)
        session.execute(
            update(WebSession).where(WebSession.id == first.id).values(last_seen_at=long_ago)
        )
        session.execute(
            update(WebSession)
            .where(WebSession.id == second.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    for cookie in cookies:
        ended = httpx.get(f"{plain_http}/auth/me", headers=cookie)
        assert ended.status_code == 401 and "session has ended" in ended.json()["reason"]


def test_repeated_failed_sign_ins_are_slowed(plain_http: str, db_url: str) -> None:
    _account(db_url)
    for _ in range(5):
        wrong = httpx.post(
            f"{plain_http}/auth/login", json={"username": "li.wei", "password": "not it at all"}
        )
        assert wrong.status_code == 401 and wrong.json()["reason"] == "wrong username or password"
    locked = httpx.post(
        f"{plain_http}/auth/login", json={"username": "li.wei", "password": PASSWORD}
    )
    assert locked.status_code == 401 and "too many failed sign-ins" in locked.json()["reason"]
    unknown = httpx.post(
        f"{plain_http}/auth/login", json={"username": "nobody", "password": PASSWORD}
    )
    assert unknown.json()["reason"] == "wrong username or password"


def test_a_password_becomes_a_cli_token_shown_once(plain_http: str, db_url: str) -> None:
    _account(db_url, roles=(Role.OPERATOR, Role.APPROVER))
    made = httpx.post(
        f"{plain_http}/auth/token",
        json={"username": "li.wei", "password": PASSWORD, "name": "my laptop"},
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    me = httpx.get(f"{plain_http}/auth/me", headers=bearer(token)).json()
    assert me["roles"] == ["approver", "operator"] and me["proven_by"].startswith("api-token ")
    listed = httpx.get(f"{plain_http}/api/v1/tokens", headers=bearer(token)).json()
    assert [t["name"] for t in listed] == ["my laptop"] and token not in str(listed)
    revoked = httpx.delete(
        f"{plain_http}/api/v1/tokens/{made.json()['token_id']}", headers=bearer(token)
    )
    assert revoked.status_code == 204
    assert httpx.get(f"{plain_http}/auth/me", headers=bearer(token)).status_code == 401


def test_local_accounts_can_be_off(db_url: str) -> None:
    _account(db_url)
    settings = load_settings(database_url=db_url, local_accounts="off")
    with serve(create_app(settings)) as url:
        answer = httpx.post(f"{url}/auth/login", json={"username": "li.wei", "password": PASSWORD})
    assert answer.status_code == 404 and "local accounts are off" in answer.json()["reason"]


@pytest.fixture(scope="module")
def provider_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    if NODE is None or not INSTALLED:
        pytest.skip("needs Node.js and tests/oidc/node_modules (`make test` runs npm ci)")
    running = OidcServer(tmp_path_factory.mktemp("oidc"))
    running.start()
    yield running
    running.stop()


def _with_provider(provider: OidcServer, db_url: str) -> Settings:
    return load_settings(
        database_url=db_url,
        cookie_secure=False,
        oidc_issuer=provider.issuer,
        oidc_client_id="nightwatch",
        oidc_client_secret=SECRET,
        oidc_redirect_uri=REDIRECT,
        oidc_roles_by_group="ops-approvers=approver,ops-operators=operator",
    )


def test_signing_in_through_the_provider_gives_a_session_with_the_groups_roles(
    provider_server: OidcServer, db_url: str, tmp_path: Path
) -> None:
    settings = _with_provider(provider_server, db_url)
    with serve(create_app(settings)) as url, httpx.Client(timeout=10) as browser:
        start = browser.get(f"{url}/auth/oidc/start", params={"next": "//evil.example/"})
        assert start.status_code == 303
        pending = {"Cookie": f"nightwatch_session={_session_cookie(start)}"}
        callback = provider_server.browse(start.headers["location"], "alice")
        query = httpx.URL(callback).query.decode()
        back = browser.get(f"{url}/auth/oidc/callback?{query}", headers=pending)
        assert back.status_code == 303, back.text
        assert back.headers["location"] == "/", "only this site's paths after sign-in"
        session = {"Cookie": f"nightwatch_session={_session_cookie(back)}"}
        me = browser.get(f"{url}/auth/me", headers=session).json()
        assert (me["user"], me["roles"], me["groups"]) == ("alice", ["approver"], ["ops-approvers"])
        assert me["proven_by"].startswith(f"oidc {provider_server.issuer}#")
        replayed = browser.get(f"{url}/auth/oidc/callback?{query}", headers=pending)
        assert replayed.status_code == 401, "a callback cannot be used twice"
        assert browser.get(f"{url}/auth/me", headers=pending).status_code == 401


def test_the_cli_signs_in_through_the_provider_in_a_browser(
    provider_server: OidcServer, db_url: str, tmp_path: Path
) -> None:
    settings = _with_provider(provider_server, db_url)
    credentials = tmp_path / "credentials.json"
    with serve(create_app(settings)) as url, httpx.Client(timeout=10) as browser:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
        env |= {
            "NIGHTWATCH_API_URL": url,
            "NIGHTWATCH_CREDENTIALS_FILE": str(credentials),
            "BROWSER": "true",  # nothing to open here: the test is the browser
        }
        cli = subprocess.Popen(
            [sys.executable, "-m", "nightwatch", "login", "--sso"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert cli.stdout is not None
            address = cli.stdout.readline().strip().removeprefix("open ")
            code = cli.stdout.readline().strip().rsplit(" ", 1)[-1]
            assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code), code
            page = httpx.URL(address)
            # The browser is not signed in: the page sends it to the provider and back.
            first = browser.get(address)
            assert first.status_code == 303 and first.headers["location"].startswith(
                "/auth/oidc/start?next="
            )
            start = browser.get(url + first.headers["location"])
            pending = {"Cookie": f"nightwatch_session={_session_cookie(start)}"}
            callback = provider_server.browse(start.headers["location"], "bob")
            query = httpx.URL(callback).query.decode()
            back = browser.get(f"{url}/auth/oidc/callback?{query}", headers=pending)
            assert back.headers["location"] == f"{page.path}?{page.query.decode()}"
            session = {"Cookie": f"nightwatch_session={_session_cookie(back)}"}
            shown = browser.get(url + back.headers["location"], headers=session)
            assert code in shown.text and "bob" in shown.text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
            assert csrf is not None
            forged = browser.post(f"{url}/auth/cli/allow", data={"code": code}, headers=session)
            assert forged.status_code == 403, "allowing needs the session's CSRF token"
            allowed = browser.post(
                f"{url}/auth/cli/allow",
                data={"code": code, "csrf_token": csrf.group(1)},
                headers=session,
            )
            assert allowed.status_code == 200, allowed.text
            out, err = cli.communicate(timeout=60)
        finally:
            cli.kill()
        assert cli.returncode == 0, err
        assert "signed in to" in out and "as bob (operator)" in out
        assert oct(credentials.stat().st_mode & 0o777) == "0o600"
        token = json.loads(credentials.read_text())[url]["token"]
        me = browser.get(f"{url}/auth/me", headers=bearer(token)).json()
        assert (me["user"], me["roles"], me["groups"]) == ("bob", ["operator"], ["ops-operators"])
        again = browser.post(
            f"{url}/auth/cli/allow",
            data={"code": code, "csrf_token": csrf.group(1)},
            headers=session,
        )
        assert again.status_code == 404, "a CLI sign-in is used once"


def test_many_usernames_tried_from_one_address_are_slowed_too(plain_http: str, db_url: str) -> None:
    _account(db_url)
    for number in range(10):  # one password sprayed over usernames: no account locks
        answer = httpx.post(
            f"{plain_http}/auth/login", json={"username": f"user{number}", "password": PASSWORD}
        )
        assert answer.status_code == 401
    refused = httpx.post(
        f"{plain_http}/auth/login", json={"username": "li.wei", "password": PASSWORD}
    )
    assert refused.status_code == 429 and "from your address" in refused.json()["reason"]
    token = httpx.post(
        f"{plain_http}/auth/token", json={"username": "li.wei", "password": PASSWORD}
    )
    assert token.status_code == 429, "the CLI's sign-in is slowed the same way"


def test_an_expired_token_proves_nothing(plain_http: str, db_url: str) -> None:
    token = token_for(db_url, "li.wei", ["operator"])
    assert httpx.get(f"{plain_http}/auth/me", headers=bearer(token)).status_code == 200
    with session_factory(db_url)() as session:
        session.execute(
            update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    expired = httpx.get(f"{plain_http}/auth/me", headers=bearer(token))
    assert expired.status_code == 401 and "expired, revoked or mistyped" in expired.json()["reason"]


def test_the_sign_in_page_gives_a_browser_the_cookie_the_web_ui_decodes_with(
    db_url: str,
) -> None:
    _account(db_url, roles=(Role.VIEWER,))
    settings = load_settings(
        database_url=db_url, cookie_secure=False, payload_keys=f"k1:{'A' * 43}="
    )
    with serve(create_app(settings)) as url, httpx.Client(timeout=10) as browser:
        page = browser.get(f"{url}/auth/login", params={"next": "//evil.example/"})
        assert page.status_code == 200 and 'name="password"' in page.text
        assert 'name="next" value="/"' in page.text, "only this site's paths after sign-in"
        wrong = browser.post(
            f"{url}/auth/login/form", data={"username": "li.wei", "password": "not it at all"}
        )
        assert wrong.status_code == 401 and "wrong username or password" in wrong.text
        signed_in = browser.post(
            f"{url}/auth/login/form",
            data={"username": "li.wei", "password": PASSWORD, "next": "/docs"},
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/docs"
        cookie = {"Cookie": f"nightwatch_session={_session_cookie(signed_in)}"}
        decoded = browser.post(f"{url}/codec/decode", json={"payloads": []}, headers=cookie)
        assert decoded.status_code == 200, "the Web UI's codec call needs no CSRF token"
        assert httpx.post(f"{url}/codec/decode", json={"payloads": []}).status_code == 401
