"""`nightwatch up` / `down`: start the parts in order, wait until each answers, stop cleanly.

Order: PostgreSQL (unless DATABASE_URL names one), the Temporal dev server, migrations,
then a worker. Any failure stops what was started, so nothing is left running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from nightwatch.codec import KeyRing, write_key_file
from nightwatch.config import LOCAL_KEY_FILE, Settings, env_name
from nightwatch.errors import StackError
from stack.health import PartHealth, check_all, connect_checked, worker_pollers
from stack.local_platforms import configure_local_platforms
from stack.people import ensure_people, sign_in_cli
from stack.postgres import EmbeddedPostgres
from stack.processes import (
    Part,
    StackState,
    log_tail,
    pid_alive,
    port_in_use,
    start_process,
    stop_pid,
)
from stack.temporal_server import dev_server_command
from storage import migrate
from storage.db import check_reachable, shown_url

READY_TIMEOUT = 90.0
STOP_ORDER = ("worker", "intake", "api", "simulator", "temporal", "postgres")
# HTTP services the stack runs: part name -> the port setting it listens on.
HTTP_PARTS = {"simulator": "simulator_port", "api": "api_port", "intake": "intake_port"}
Say = Callable[[str], None]


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps its files under NIGHTWATCH_HOME."""

    home: Path

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def temporal_db(self) -> Path:
        return self.home / "temporal" / "dev.db"

    @property
    def postgres_data(self) -> Path:
        return self.home / "postgres"

    def intake_secrets(self) -> dict[str, str]:
        """The local intake's credentials per source: made once, kept (mode 0600)."""
        path = self.home / "intake-secrets.json"
        if not path.exists():
            key = base64.b64encode(secrets.token_bytes(24)).decode()
            path.write_text(
                json.dumps(
                    {
                        "NIGHTWATCH_ALERT_TOKENS": secrets.token_urlsafe(24),
                        "NIGHTWATCH_ALERT_GRAFANA_SECRETS": secrets.token_urlsafe(24),
                        "NIGHTWATCH_ALERT_WEBHOOK_SECRETS": f"whsec_{key}",
                    },
                    indent=2,
                )
            )
            path.chmod(0o600)
        found: dict[str, str] = json.loads(path.read_text())
        return found

    def payload_key_file(self) -> Path:
        """The local stack's payload keys: made once, kept (mode 0600). Every process the
        stack starts, and the CLI run beside it, finds them here (NIGHTWATCH_HOME)."""
        path = self.home / LOCAL_KEY_FILE
        if not path.exists():
            key = KeyRing.new_key()
            write_key_file(path, KeyRing.parse([f"local-1:{key}"], source=str(path)))
        return path

    def metrics_token(self) -> Path:
        """The token the local stack's /metrics pages ask for: made once, kept (0600); a
        Prometheus reads it as its `credentials_file`."""
        path = self.home / "metrics-token"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path

    def simulator_token(self) -> str:
        """The local simulator's bearer token: made once, kept (the database holds it too)."""
        path = self.home / "simulator-token"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()


def _postgres(settings: Settings, layout: Layout) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        layout.postgres_data, settings.postgres_port, layout.logs / "postgres.log"
    )


def http_url(settings: Settings, part: str) -> str:
    return f"http://127.0.0.1:{getattr(settings, HTTP_PARTS[part])}"


def addresses(settings: Settings) -> dict[str, str]:
    return {
        "console": http_url(settings, "api") + "/console/",
        "ui": f"http://127.0.0.1:{settings.temporal_ui_port}",
        "api": http_url(settings, "api") + "/docs",
        "simulator": http_url(settings, "simulator"),
        "intake": http_url(settings, "intake") + "/alerts",
        "metrics": ",".join(
            [
                http_url(settings, "api") + "/metrics",
                http_url(settings, "intake") + "/metrics",
                f"http://127.0.0.1:{settings.worker_metrics_port}/metrics",
            ]
        ),
        "temporal": settings.effective_temporal_address,
        "database": shown_url(settings.effective_database_url),
        "task_queue": settings.task_queue,
    }


def preflight(settings: Settings) -> None:
    """Cheap checks before anything starts: ports free, binaries present, database reachable."""
    ports = {
        "temporal_port": settings.temporal_port,
        "temporal_ui_port": settings.temporal_ui_port,
        "temporal_http_port": settings.temporal_http_port,
        "temporal_metrics_port": settings.temporal_metrics_port,
        "worker_metrics_port": settings.worker_metrics_port,
        **{field: getattr(settings, field) for field in HTTP_PARTS.values()},
    }
    if settings.uses_embedded_postgres:
        ports["postgres_port"] = settings.postgres_port
    for field, port in ports.items():
        if port_in_use(port):
            raise StackError(env_name(field), f"port {port} is already in use")
    dev_server_command(settings, Path("check"))  # raises if the binary is missing
    if not settings.uses_embedded_postgres:
        check_reachable(settings.effective_database_url)


class Stack:
    def __init__(self, settings: Settings, say: Say) -> None:
        self.settings = settings
        self.layout = Layout(settings.home_dir)
        self.say = say
        self.state = StackState.load(self.layout.state_file)

    # -- up ---------------------------------------------------------------------------
    def running(self) -> bool:
        return bool(self.state.running_parts())

    def up(self) -> None:
        """Start every part and return once all answer; on any failure stop them all."""
        preflight(self.settings)
        self.layout.home.mkdir(parents=True, exist_ok=True)
        if self.settings.payload_encryption != "off" and not self.settings.has_payload_keys:
            self.layout.payload_key_file()  # from now on settings find and use it
        self.state = StackState(supervisor_pid=None)
        try:
            self._start_postgres()
            self._start_temporal()
            self._migrate()
            for part in HTTP_PARTS:
                self._start_http(part)
            self._start_worker()
            self._wait_ready()
            self._people()
            configure_local_platforms(
                self.settings,
                http_url(self.settings, "simulator"),
                self.layout.simulator_token(),
                self.say,
            )
        except BaseException:
            self.down(quiet=True)
            raise

    def http_parts(self) -> dict[str, str]:
        """Health URLs of the HTTP services this stack runs."""
        return {
            name: part.address + "/healthz"
            for name, part in self.state.parts.items()
            if name in HTTP_PARTS
        }

    def _remember(self, part: Part) -> None:
        self.state.parts[part.name] = part
        self.state.save(self.layout.state_file)

    def _start_postgres(self) -> None:
        if not self.settings.uses_embedded_postgres:
            return
        postgres = _postgres(self.settings, self.layout)
        with self._step("starting PostgreSQL"):
            pid = postgres.start()
        self._remember(Part("postgres", pid, postgres.address, str(postgres.log)))
        _create_database(postgres)
        self.say(f"postgres  up    {postgres.address}")

    def _start_temporal(self) -> None:
        self.layout.temporal_db.parent.mkdir(parents=True, exist_ok=True)
        log = self.layout.logs / "temporal.log"
        encrypts = self.settings.encrypts_payloads
        codec = http_url(self.settings, "api") + "/codec" if encrypts else None
        command = dev_server_command(self.settings, self.layout.temporal_db, codec_endpoint=codec)
        process = start_process(command, log=log)
        self._remember(
            Part("temporal", process.pid, self.settings.effective_temporal_address, str(log))
        )
        with self._step("starting Temporal"):
            self._wait(lambda: asyncio.run(_temporal_answers(self.settings)), "temporal", log)
        self.say(f"temporal  up    {self.settings.effective_temporal_address}")

    def _migrate(self) -> None:
        with self._step("migrating the database"):
            result = migrate.upgrade(self.settings.effective_database_url)
        self.say(
            f"schema    {result.after}" + (" (newer than code)" if result.newer_schema else "")
        )

    def _people(self) -> None:
        made = ensure_people(self.settings, self.layout.home)
        for username in made:
            path = self.layout.home / f"{username}.password"
            self.say(f"people    {username}: local account, password in {path} (0600)")
        user = sign_in_cli(self.settings, self.layout.home)
        if user is not None:
            self.say(f"people    the CLI is signed in as {user} (`nightwatch login` to change)")

    def _start_http(self, part: str) -> None:
        """Serve the API or the simulator with uvicorn in a child process."""
        port = getattr(self.settings, HTTP_PARTS[part])
        log = self.layout.logs / f"{part}.log"
        command = [sys.executable, "-m", "nightwatch", part, "--port", str(port)]
        env = self._child_env()
        if part == "simulator":  # the one part that knows this token
            env["NIGHTWATCH_SIMULATOR_TOKEN"] = self.layout.simulator_token()
        process = start_process(command, log=log, env=env)
        url = http_url(self.settings, part)
        self._remember(Part(part, process.pid, url, str(log)))
        with self._step(f"starting the {part}"):
            self._wait(lambda: _http_answers(url + "/healthz"), part, log, pid=process.pid)
        self.say(f"{part:<9} up    {url}")

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NIGHTWATCH_DATABASE_URL"] = self.settings.effective_database_url
        env["NIGHTWATCH_TEMPORAL_ADDRESS"] = self.settings.effective_temporal_address
        env["NIGHTWATCH_HOME"] = str(self.layout.home)
        ui = self.settings.temporal_ui_port
        env.setdefault("NIGHTWATCH_ARCHIVE_INTERVAL_SECONDS", "5")
        # The local API serves plain HTTP on 127.0.0.1: its session cookie cannot be Secure.
        env.setdefault("NIGHTWATCH_COOKIE_SECURE", "false")
        env.setdefault(
            "NIGHTWATCH_CODEC_CORS_ORIGINS", f"http://127.0.0.1:{ui},http://localhost:{ui}"
        )
        for name, value in self.layout.intake_secrets().items():
            env.setdefault(name, value)  # an operator's own credentials win
        env.setdefault("NIGHTWATCH_METRICS_TOKENS", self.layout.metrics_token().read_text().strip())
        env.setdefault("NIGHTWATCH_WORKER_METRICS_PORT", str(self.settings.worker_metrics_port))
        # One host stands for both data centres: its worker runs the steps pinned to either.
        env.setdefault("NIGHTWATCH_SITE", "dc-a,dc-b")
        return env

    def _start_worker(self) -> None:
        log = self.layout.logs / "worker.log"
        command = [sys.executable, "-m", "nightwatch", "worker"]
        process = start_process(command, log=log, env=self._child_env())
        self._remember(Part("worker", process.pid, self.settings.task_queue, str(log)))
        with self._step("starting the worker"):
            self._wait(
                lambda: asyncio.run(_worker_polls(self.settings, process.pid)),
                "worker",
                log,
                pid=process.pid,
            )
        self.say(f"worker    up    task queue {self.settings.task_queue}")

    def _wait_ready(self) -> None:
        with self._step("running a diagnostics workflow end to end"):
            parts = asyncio.run(check_all(self.settings, deep=True, http=self.http_parts()))
        failed = [part for part in parts if not part.ok]
        if failed:
            raise StackError(failed[0].part, failed[0].detail)
        self.say("smoke     ok    diagnostics workflow ran on the worker and reached the database")

    def _wait(self, answers: Callable[[], bool], part: str, log: Path, *, pid: int = 0) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pid = pid or self.state.parts[part].pid
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                tail = log_tail(log, 3).replace("\n", " | ")
                raise StackError(part, f"exited during start-up; {log}: {tail}")
            if answers():
                return
            time.sleep(0.2)
        raise StackError(part, f"did not answer within {READY_TIMEOUT:.0f}s; see {log}")

    @contextmanager
    def _step(self, text: str) -> Iterator[None]:
        if sys.stderr.isatty():
            from rich.console import Console

            with Console(stderr=True).status(text):
                yield
        else:
            yield

    # -- supervise (foreground `up`) ----------------------------------------------------
    def supervise(self) -> int:
        """Stay in the foreground until Ctrl-C / SIGTERM or a part dies; then stop all."""
        self.state.supervisor_pid = os.getpid()
        self.state.save(self.layout.state_file)
        stopping = False

        def request_stop(signum: int, _: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            dead = [p for p in self._watched_parts() if not pid_alive(p.pid)]
            if dead:
                part = dead[0]
                self.say(f"{part.name} stopped unexpectedly; see {part.log}")
                exit_code = 1
                break
            time.sleep(0.5)
        self.say("stopping…")
        self.down(quiet=True)
        self.say("stopped")
        return exit_code

    def _watched_parts(self) -> list[Part]:
        # PostgreSQL is not our child (pg_ctl daemonises it) but its pid is still watched.
        return list(self.state.parts.values())

    # -- down ---------------------------------------------------------------------------
    def down(self, *, quiet: bool = False) -> bool:
        """Stop every part this stack started; return whether anything was running."""
        supervisor = self.state.supervisor_pid
        if supervisor and supervisor != os.getpid() and pid_alive(supervisor):
            stop_pid(supervisor, timeout=60)  # the foreground `up` stops its own parts
            self.state = StackState.load(self.layout.state_file)
        was_running = self.running()
        for name in STOP_ORDER:
            part = self.state.parts.get(name)
            if part is None:
                continue
            if name == "postgres":
                _postgres(self.settings, self.layout).stop()
            stop_pid(part.pid)
            if not quiet:
                self.say(f"{name:<9} stopped")
        self.layout.state_file.unlink(missing_ok=True)
        self.state = StackState()
        return was_running


def _create_database(postgres: EmbeddedPostgres) -> None:
    import psycopg

    with psycopg.connect(postgres.url("postgres").replace("+psycopg", ""), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = 'nightwatch'").fetchone()
        if not exists:
            conn.execute("create database nightwatch")


def _http_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _temporal_answers(settings: Settings) -> bool:
    client = await connect_checked(settings, wait=2)
    return not isinstance(client, PartHealth)


async def _worker_polls(settings: Settings, pid: int) -> bool:
    client = await connect_checked(settings, wait=2)
    if isinstance(client, PartHealth):
        return False
    return any(identity.endswith(f":{pid}") for identity in await worker_pollers(client, settings))
