"""Request-scoped dependencies: a database session and the acting user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from storage.db import session_factory


def get_session(request: Request) -> Iterator[Session]:
    with session_factory(request.app.state.database_url)() as session:
        yield session


def get_user(
    x_nightwatch_user: Annotated[str | None, Header(max_length=128)] = None,
) -> str | None:
    """Who acts, as the gateway in front of the API asserts it (recorded for audit)."""
    return x_nightwatch_user


SessionDep = Annotated[Session, Depends(get_session)]
UserDep = Annotated[str | None, Depends(get_user)]
