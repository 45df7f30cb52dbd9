"""The history corpus (tests/histories/) replays against this code, and the replay gate
catches a change that would break executions started by an older release."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory

from audit.replay import histories_in, replay
from runtime.worker import SANDBOXED
from workflows.models import ExecutionInput, ExecutionView

CORPUS = Path(__file__).parents[1] / "histories"


@pytest.mark.parametrize("sandboxed", [SANDBOXED, not SANDBOXED], ids=["as-production", "other"])
async def test_every_recorded_history_replays(sandboxed: bool) -> None:
    # With the runner production uses (unsandboxed), and inside the SDK's sandbox too, so
    # that the corpus would catch what either one notices.
    histories = histories_in(CORPUS)
    assert len(histories) >= 10
    results = await replay(histories, sandboxed=sandboxed)
    assert [(r.workflow_id, r.error) for r in results if not r.ok] == []


@workflow.defn(name="PlanExecution", sandboxed=False)
class ChangedPlanExecution:
    """A careless change: the same workflow type now waits a minute before anything."""

    @workflow.run
    async def run(self, params: ExecutionInput) -> ExecutionView:
        await workflow.sleep(timedelta(minutes=1))
        raise RuntimeError("never reached in replay")


async def test_a_non_deterministic_change_is_caught() -> None:
    histories = [h for h in histories_in(CORPUS) if "emergency" in h[0]]
    results = await replay(histories, workflows=[ChangedPlanExecution])
    assert len(results) == 2  # started by the workflow's own creation, and by the service
    for result in results:
        assert not result.ok
        assert result.error is not None and "Nondeterminism" in result.error


def _replay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nightwatch", "replay", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


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


def _attributes(path: Path, kind: str) -> list[dict[str, Any]]:
    """The attributes of a recorded history's events of one kind (e.g. "markerRecorded")."""
    events = json.loads(path.read_text())["events"]
    return [e[f"{kind}EventAttributes"] for e in events if f"{kind}EventAttributes" in e]


def _markers(path: Path) -> list[str]:
    return [marker["markerName"] for marker in _attributes(path, "markerRecorded")]


async def test_the_plan_memo_patch_replays_old_and_new_histories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/replay.md: the `plan-memo` change is guarded by `workflow.patched`. A history
    from before it (no patch marker) and one from after it (marker, then the memo) both
    replay; the same change without the guard breaks the old one."""
    old, new = CORPUS / "emergency-confirm-wait-notify-1.json", CORPUS / "patched-plan-memo-1.json"
    assert "core_patch" not in _markers(old) and "core_patch" in _markers(new)
    new_events = json.loads(new.read_text())["events"]
    assert any("workflowPropertiesModifiedEventAttributes" in e for e in new_events)
    both = [(str(p), WorkflowHistory.from_json(p.stem, p.read_text())) for p in (old, new)]
    assert [r.ok for r in await replay(both)] == [True, True]
    # Unguarded: the new command would run for the old execution too.
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    [unguarded] = await replay(both[:1])
    assert not unguarded.ok and "Nondeterminism" in (unguarded.error or "")


def _local_activities(path: Path) -> list[str]:
    return [
        json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))[
            "activity_type"
        ]
        for marker in _attributes(path, "markerRecorded")
        if marker["markerName"] == "core_local_activity"
    ]


async def test_the_last_step_writing_the_end_replays_old_and_new_histories() -> None:
    """docs/performance.md: the last step writes the end when it can, and says so in its
    result. A history from before (the workflow's own record of the end, a local activity)
    and one from after (no such record) both replay: what the recorded result says decides,
    so a result altered to say the step did not write the end breaks the new history."""
    old, new = CORPUS / "service-emergency-1.json", CORPUS / "finish-with-last-step-1.json"
    assert _local_activities(old) == ["record_execution"] * 2  # at the wait, at the end
    assert _local_activities(new) == ["record_execution"]  # at the wait only
    both = [(str(p), WorkflowHistory.from_json(p.stem, p.read_text())) for p in (old, new)]
    assert [r.ok for r in await replay(both)] == [True, True]
    altered = json.loads(new.read_text())
    results = [
        e["activityTaskCompletedEventAttributes"]["result"]["payloads"][0]
        for e in altered["events"]
        if "activityTaskCompletedEventAttributes" in e
    ]
    last = json.loads(base64.b64decode(results[-1]["data"]))
    assert last["recorded"] is True
    results[-1]["data"] = base64.b64encode(json.dumps(last | {"recorded": False}).encode()).decode()
    [broken] = await replay([("altered", WorkflowHistory.from_json("altered", altered))])
    assert not broken.ok and "Nondeterminism" in (broken.error or "")


async def test_the_step_activity_ids_patch_replays_old_and_new_histories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/replay.md: steps' activities are named by node, action and round ("4 CHECKPOINT
    #1") since the `step-activity-ids` patch; Temporal matches activity ids on replay, so
    without the guard a history from before (ids "1", "2", ...) would no longer replay."""
    old, new = CORPUS / "service-emergency-1.json", CORPUS / "finish-with-last-step-1.json"

    def ids(path: Path) -> list[str]:
        return [a["activityId"] for a in _attributes(path, "activityTaskScheduled")]

    assert ids(new) == ["1 CHECKPOINT #1", "3 NOTIFY #1", "4 CHECKPOINT #1"]
    assert ids(old) == ["1", "2", "4"]  # seq numbers: the WAIT step took 3
    both = [(str(p), WorkflowHistory.from_json(p.stem, p.read_text())) for p in (old, new)]
    assert [r.ok for r in await replay(both)] == [True, True]
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    [unguarded] = await replay(both[:1])
    assert not unguarded.ok and "Nondeterminism" in (unguarded.error or "")


async def test_a_history_a_newer_release_wrote_with_an_unknown_strategy_key_replays() -> None:
    # A newer release may add strategy keys (their meaning never changes); this release
    # must still replay its histories: the snapshot in the creation marker carries them.
    original = json.loads((CORPUS / "emergency-confirm-wait-notify-1.json").read_text())
    changed = 0
    for event in original["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker or "result" not in marker.get("details", {}):
            continue
        for payload in marker["details"]["result"]["payloads"]:
            value = json.loads(base64.b64decode(payload.get("data", "")) or "null")
            if isinstance(value, dict) and "nodes" in value:
                for node in value["nodes"]:
                    node["strategy"]["escalateAfterSeconds"] = 600  # not known here
                    changed += 1
                payload["data"] = base64.b64encode(json.dumps(value).encode()).decode()
    assert changed >= 2
    history = WorkflowHistory.from_json("newer", json.dumps(original))
    [result] = await replay([("newer", history)])
    assert result.ok, result.error


async def test_a_fill_signal_replays_after_the_rule_it_passed_is_tightened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A later release refuses the value this history's signal filled in: the signal's
    # handler decides from the history alone, so the history still replays.
    from catalog.params import ParameterProblem

    def tightened(*args: object, **kwargs: object) -> list[ParameterProblem]:
        return [ParameterProblem(field="note", reason="now at most 3 characters")]

    monkeypatch.setattr("workflows.people.check_parameters", tightened)
    path = CORPUS / "signal-fill-1.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    assert "WORKFLOW_EXECUTION_SIGNALED" in path.read_text()
    [result] = await replay([(str(path), history)])
    assert result.ok, result.error
