"""The local stack as a user runs it (`nightwatch up`), on free ports, in a home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.processes import StackState, port_in_use
from tests.support import free_port


@dataclass
class StackEnv:
    home: Path
    env: dict[str, str]

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.env['NIGHTWATCH_TEMPORAL_UI_PORT']}/"

    @property
    def temporal(self) -> str:
        return f"127.0.0.1:{self.env['NIGHTWATCH_TEMPORAL_PORT']}"

    @property
    def database(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.env['NIGHTWATCH_POSTGRES_PORT']}/nightwatch"

    def ports(self) -> list[int]:
        return [int(value) for key, value in self.env.items() if key.endswith("_PORT")]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nightwatch", *args],
            env=self.env,
            cwd=self.home.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def nothing_running(self) -> bool:
        state = StackState.load(self.home / "stack.json")
        return not state.running_parts() and not any(port_in_use(p) for p in self.ports())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackEnv]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTWATCH_")}
    env.pop("DATABASE_URL", None)
    env.update(
        NIGHTWATCH_HOME=str(tmp_path / "home"),
        NIGHTWATCH_CREDENTIALS_FILE=str(tmp_path / "credentials.json"),
        NIGHTWATCH_TEMPORAL_PORT=str(free_port()),
        NIGHTWATCH_TEMPORAL_UI_PORT=str(free_port()),
        NIGHTWATCH_TEMPORAL_HTTP_PORT=str(free_port()),
        NIGHTWATCH_TEMPORAL_METRICS_PORT=str(free_port()),
        NIGHTWATCH_POSTGRES_PORT=str(free_port()),
        NIGHTWATCH_API_PORT=str(free_port()),
        NIGHTWATCH_SIMULATOR_PORT=str(free_port()),
        NIGHTWATCH_INTAKE_PORT=str(free_port()),
        NIGHTWATCH_WORKER_METRICS_PORT=str(free_port()),
    )
    stack = StackEnv(tmp_path / "home", env)
    yield stack
    stack.run("down", timeout=120)
