"""The Temporal dev server command line, with the stack's fast but still durable profile.

Every test fixture and the local stack take the profile from here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from nightwatch.config import Settings
from nightwatch.errors import StackError
from nightwatch.temporal import SEARCH_ATTRIBUTES

# Why each value (measured here: a sequential no-op activity costs ~100 ms on the stock
# dev server and ~13 ms with this profile, ~11 ms with eager activities):
FAST_PROFILE: tuple[str, ...] = (
    # The dev server has one history shard whose transfer-task processor polls at 20/s by
    # default; that rate limit, not the work, set the per-step floor.
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=10000",
    # Lets a worker that schedules an activity run it at once on its own poller.
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
    # WAL makes SQLite writes cheap; synchronous=full keeps every commit on disk, so the
    # state file still survives a crash of the machine.
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=full",
)


def search_attribute_args() -> list[str]:
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def temporal_binary(settings: Settings) -> Path:
    """The `temporal` CLI: the setting, else beside this Python (the venv), else on PATH."""
    if settings.temporal_bin is not None:
        candidate = settings.temporal_bin
    else:
        beside = Path(sys.executable).parent / "temporal"
        found = shutil.which("temporal")
        candidate = beside if beside.is_file() else Path(found) if found else beside
    if not candidate.is_file():
        raise StackError(
            "NIGHTWATCH_TEMPORAL_BIN",
            f"temporal binary not found at {candidate}; install the temporal-bin package",
        )
    return candidate


def dev_server_command(
    settings: Settings, db_file: Path, *, codec_endpoint: str | None = None
) -> list[str]:
    """The dev server; with a codec endpoint the Web UI decrypts payloads through it."""
    command = [
        str(temporal_binary(settings)),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--http-port",
        str(settings.temporal_http_port),
        "--metrics-port",
        str(settings.temporal_metrics_port),
        "--db-filename",
        str(db_file),
        "--namespace",
        settings.temporal_namespace,
        "--log-format",
        "json",
        "--log-level",
        "warn",
    ]
    if codec_endpoint:
        command += ["--ui-codec-endpoint", codec_endpoint]
    return command + search_attribute_args() + list(FAST_PROFILE)
