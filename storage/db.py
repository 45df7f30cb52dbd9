"""The one place engines, sessions and pools are made: sync for CLI and migrations, async
for the rest, and psycopg's own pool for the execution engine's hottest writes."""

from __future__ import annotations

import asyncio
import weakref
from functools import cache

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from nightwatch.errors import DatabaseError


def normalise_url(url: str | URL) -> URL:
    """Accept `postgresql://`, `postgres://` and `postgresql+psycopg://`; always use psycopg 3."""
    text_url = str(url) if isinstance(url, URL) else url
    if text_url.startswith("postgres://"):
        text_url = "postgresql://" + text_url.removeprefix("postgres://")
    parsed = make_url(text_url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def shown_url(url: str | URL) -> str:
    """The URL as it may appear in a message or a log line: password hidden."""
    return normalise_url(url).render_as_string(hide_password=True)


@cache
def engine(url: str) -> Engine:
    return create_engine(
        normalise_url(url), pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )


@cache
def async_engine(url: str) -> AsyncEngine:
    return create_async_engine(
        normalise_url(url), pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )


# The execution engine's own bookkeeping writes are single statements: autocommit (no
# BEGIN and COMMIT round trips) and no ping per checkout (a write that fails is retried by
# its activity, or repaired by the execution's final record).
_WRITER = {
    "isolation_level": "AUTOCOMMIT",
    "pool_recycle": 300,
    "connect_args": {"connect_timeout": 5},
}


# Per event loop (a pool belongs to the loop it was opened in), then per database URL.
_BOOKKEEPING: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, AsyncConnectionPool]
] = weakref.WeakKeyDictionary()


async def bookkeeping_pool(url: str) -> AsyncConnectionPool:
    """For the execution engine's hottest writes (the node writer's batches, the end a last
    step records): psycopg's own async connections, autocommit, without SQLAlchemy's async
    layer, which cost about four times the worker CPU per statement (400 against 100 us on
    the reference machine; docs/performance.md). One pool per database and event loop;
    connections are made when needed and closed after a minute unused. A caller that gets
    no connection within 5 s (the database away) gets psycopg_pool.PoolTimeout."""
    pools = _BOOKKEEPING.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get(url)
    if pool is None:
        pool = AsyncConnectionPool(
            normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
            min_size=0,
            max_size=5,
            timeout=5,
            max_idle=60,
            kwargs={"autocommit": True, "connect_timeout": 5},
            open=False,
            name="bookkeeping",
        )
        await pool.open()
        if url in pools:  # another caller made one meanwhile: use that one
            await pool.close()
        else:
            pools[url] = pool
    return pools[url]


@cache
def writer_engine(url: str) -> Engine:
    """For creations and records, each one statement (autocommit); they run on at most
    6 + 16 threads."""
    return create_engine(normalise_url(url), pool_size=5, max_overflow=20, **_WRITER)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine(url), expire_on_commit=False)


def async_session_factory(url: str) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(async_engine(url), expire_on_commit=False)


def check_reachable(url: str) -> str:
    """Return the server version, or raise DatabaseError with one clear line."""
    try:
        with engine(url).connect() as conn:
            version: str = conn.execute(text("show server_version")).scalar_one()
            return version
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(shown_url(url), f"cannot reach the database: {reason}") from None


def unavailable(error: BaseException) -> bool:
    """The database did not answer (down, restarting, unreachable, out of connections):
    worth trying again later. Errors about the data itself (integrity, a value PostgreSQL
    refuses, a bad statement) are not: they can never succeed."""
    transient = (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
        OSError,
    )
    return isinstance(error, transient)
