"""Start, watch and stop the local stack's processes, and remember them in a state file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Part:
    name: str
    pid: int
    address: str
    log: str


@dataclass
class StackState:
    """What `nightwatch up` started, so `down` and `health` find it from another process."""

    supervisor_pid: int | None = None
    parts: dict[str, Part] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StackState:
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text())
        parts = {name: Part(**part) for name, part in raw.get("parts", {}).items()}
        return cls(supervisor_pid=raw.get("supervisor_pid"), parts=parts)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    def running_parts(self) -> list[Part]:
        return [part for part in self.parts.values() if pid_alive(part.pid)]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1]
    except OSError:
        return True
    return not status.startswith("Z")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def start_process(
    args: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (Ctrl-C reaches only the supervisor) logging to a file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def stop_pid(pid: int, *, timeout: float = 20.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL: the process is gone when this returns."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def log_tail(path: Path, lines: int = 5) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
