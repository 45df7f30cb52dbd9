"""Replay workflow histories against this code: the pre-upgrade gate.

A history that no longer replays means this release would break executions started by
the one that wrote it (see docs/replay.md for the patching rule that prevents it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from audit.archive import fetch_histories
from nightwatch.codec import KeyRing
from nightwatch.errors import NotFound
from nightwatch.temporal import data_converter
from runtime.worker import SANDBOXED, WORKFLOWS, runner


@dataclass(frozen=True)
class Replayed:
    workflow_id: str
    source: str
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "workflow_id": self.workflow_id,
            "source": self.source,
            "ok": self.ok,
            "error": self.error,
        }


def histories_in(folder: Path) -> list[tuple[str, WorkflowHistory]]:
    """Every `*.json` history in a folder (as `temporal workflow show --output json` or
    `WorkflowHistory.to_json()` writes it); the file name is the workflow id."""
    found = []
    for path in sorted(folder.glob("*.json")):
        found.append((str(path), WorkflowHistory.from_json(path.stem, path.read_text())))
    return found


async def histories_from(
    client: Client,
    executions: Sequence[str] = (),
    query: str | None = None,
    database_url: str | None = None,
) -> AsyncIterator[tuple[str, WorkflowHistory]]:
    """Histories of the executions named (with their sub-plans; from the archive once
    Temporal has deleted them), or of every workflow the visibility query finds."""
    for execution in executions:
        if database_url is None:
            yield (
                f"temporal:{execution}",
                await client.get_workflow_handle(execution).fetch_history(),
            )
            continue
        source, histories = await fetch_histories(client, database_url, execution)
        if not histories:
            raise NotFound(execution, "no such execution in Temporal nor in the archive")
        for history in histories:
            yield f"{source}:{history.workflow_id}", history
    if query:
        async for found in client.list_workflows(query):
            handle = client.get_workflow_handle(found.id, run_id=found.run_id)
            yield f"temporal:{found.id}", await handle.fetch_history()


async def replay(
    histories: Iterable[tuple[str, WorkflowHistory]],
    workflows: Sequence[type] = WORKFLOWS,
    ring: KeyRing | None = None,
    *,
    sandboxed: bool = SANDBOXED,
) -> list[Replayed]:
    """Replay each history with the runner production uses (or the SDK's sandbox); a
    failure names the workflow and the first mismatch. `ring` decrypts payloads of
    encrypted histories (plain ones replay with or without it)."""
    replayer = Replayer(
        workflows=list(workflows),
        data_converter=data_converter(ring),
        workflow_runner=runner(sandboxed),
    )
    results = []
    for source, history in histories:
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = outcome.replay_failure
        error = None if failure is None else f"{type(failure).__name__}: {failure}"
        results.append(Replayed(history.workflow_id, source, failure is None, error))
    return results
