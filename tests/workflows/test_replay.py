"""The history corpus (tests/histories/) replays against this code, and the replay gate
catches a change that would break executions started by an older release."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from temporalio import workflow

from nightwatch.replay import histories_in, replay
from workflows.models import ExecutionInput, ExecutionView

CORPUS = Path(__file__).parents[1] / "histories"


async def test_every_recorded_history_replays() -> None:
    histories = histories_in(CORPUS)
    assert len(histories) >= 10
    results = await replay(histories)
    assert [r.workflow_id for r in results if not r.ok] == []


@workflow.defn(name="PlanExecution", sandboxed=False)
class ChangedPlanExecution:
    """A careless change: the same workflow type now waits a minute before anything."""

    @workflow.run
    async def run(self, params: ExecutionInput) -> ExecutionView:
        await workflow.sleep(timedelta(minutes=1))
        raise RuntimeError("never reached in replay")


async def test_a_non_deterministic_change_is_caught() -> None:
    histories = [h for h in histories_in(CORPUS) if "emergency" in h[0]]
    [result] = await replay(histories, workflows=[ChangedPlanExecution])
    assert not result.ok
    assert result.error is not None and "Nondeterminism" in result.error


def _replay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nightwatch", "replay", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_replay_gate_passes_the_corpus_and_fails_a_tampered_history(tmp_path: Path) -> None:
    passed = _replay_cli("--dir", str(CORPUS), "--json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    report = json.loads(passed.stdout)
    assert report["failed"] == 0 and report["replayed"] >= 10
    # What an older release's history looks like to code that changed an activity: the
    # recorded step ran `checkpoint`, this history says another activity ran there.
    original = json.loads((CORPUS / "skip-at-confirmation-1.json").read_text())
    for event in original["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            scheduled["activityType"]["name"] = "renamed_activity"
    (tmp_path / "tampered.json").write_text(json.dumps(original))
    failed = _replay_cli("--dir", str(tmp_path))
    assert failed.returncode == 1
    assert "NON-DETERMINISTIC  tampered" in failed.stdout
    assert "1 replayed, 1 failed" in failed.stdout
