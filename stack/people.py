"""The local stack's people: the first admin and the duty manager, local accounts whose
passwords `up` writes to the stack's home folder (0600), and the CLI signed in as the
duty manager through the same path as anyone (`POST /auth/token`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from cli.api_client import Api, read_credentials, store_credential
from identity import accounts
from identity.model import Role
from nightwatch.config import Settings
from nightwatch.errors import NightwatchError
from storage.db import session_factory
from storage.models import Account


@dataclass(frozen=True)
class LocalPerson:
    username: str
    roles: frozenset[Role]
    groups: tuple[str, ...]
    display_name: str


ADMIN = LocalPerson("admin", frozenset({Role.ADMIN}), (), "First admin (made by nightwatch up)")
# The example plans let `role:duty-manager` act: the duty manager's group.
DUTY_MANAGER = LocalPerson(
    "duty-manager",
    frozenset({Role.OPERATOR, Role.APPROVER}),
    ("duty-manager",),
    "Duty manager (made by nightwatch up)",
)


def password_file(home: Path, person: LocalPerson) -> Path:
    return home / f"{person.username}.password"


def ensure_people(settings: Settings, home: Path) -> list[str]:
    """Create the admin and the duty manager once, their passwords written 0600; returns
    who was created."""
    made = []
    with session_factory(settings.effective_database_url)() as session:
        for person in (ADMIN, DUTY_MANAGER):
            exists = session.scalar(select(Account.id).where(Account.username == person.username))
            path = password_file(home, person)
            if exists is not None and path.is_file():
                continue
            password = secrets.token_urlsafe(18)
            if exists is None:
                accounts.create(
                    session,
                    person.username,
                    password,
                    person.roles,
                    by="nightwatch up",
                    display_name=person.display_name,
                    groups=list(person.groups),
                )
            else:  # the file went missing: a new password, written where `up` says
                accounts.set_password(session, person.username, password)
            session.commit()
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(password + "\n")
            made.append(person.username)
    return made


def token_of(settings: Settings, home: Path, person: LocalPerson, name: str) -> str:
    """A fresh API token for `person`, got by signing in with the stored password."""
    password = password_file(home, person).read_text().strip()
    with Api(settings, token="") as api:
        made = api.post(
            "/auth/token",
            {"username": person.username, "password": password, "name": name, "days": 30},
        )
    return str(made["token"])


def sign_in_cli(settings: Settings, home: Path) -> str | None:
    """Sign the CLI in as the duty manager unless it is signed in to this API already;
    the user it acts as when it had to sign in, else None."""
    url = settings.effective_api_url
    entry = read_credentials(settings.effective_credentials_file).get(url) or {}
    if entry.get("token"):
        try:
            with Api(settings, token=str(entry["token"])) as api:
                api.get("/auth/me")
            return None
        except NightwatchError:
            pass  # an old stack's token: sign in again
    token = token_of(settings, home, DUTY_MANAGER, "nightwatch CLI (signed in by nightwatch up)")
    with Api(settings, token=token) as api:
        me = api.get("/auth/me")
    store_credential(
        settings.effective_credentials_file,
        url,
        {"token": token, "user": me["user"], "token_id": me["proven_by"].split()[-1]},
    )
    return str(me["user"])
