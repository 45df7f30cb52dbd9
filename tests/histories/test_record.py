"""Records the history corpus (`tests/histories/*.json`) from real runs of the engine.

Skipped unless NIGHTWATCH_RECORD_HISTORIES=1: the corpus is what older releases wrote, so it
is recorded once per workflow change that is meant to be compatible, then kept:
`NIGHTWATCH_RECORD_HISTORIES=1 .venv/bin/pytest tests/histories/test_record.py`.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from executions.service import Executions
from tests.workflows import test_execution, test_failures
from tests.workflows.conftest import Engine
from workflows.models import ExecutionInput, ExecutionView

HERE = Path(__file__).parent
RECORD = os.environ.get("NIGHTWATCH_RECORD_HISTORIES") == "1"
pytestmark = pytest.mark.skipif(not RECORD, reason="records the corpus on demand")

DR = test_execution.test_dr_plan_runs_sub_plans_in_fixed_order_after_each_confirmation
SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "emergency-confirm-wait-notify": test_execution.test_emergency_plan_runs_end_to_end,
    "dr-three-sub-plans": DR,
    "skip-at-confirmation": test_execution.test_skip_at_a_confirmation_goes_on,
    "pending-parameters": test_execution.test_pending_parameter_rejected_then_accepted,
    "failure-retry": test_failures.test_failure_then_retry_succeeds,
    "failure-abort": test_failures.test_failure_then_abort_stops,
    "cancel-mid-step": test_failures.test_cancel_mid_step_leaves_nothing_running,
    # Recorded after the `plan-memo` patch (docs/replay.md); the files above are from before.
    "patched-plan-memo": test_execution.test_emergency_plan_runs_end_to_end,
    # Recorded after the `signal-fill-as-recorded` patch: a fill signal replays whatever the
    # catalog of the replaying release says (tests/workflows/test_replay.py).
    "signal-fill": test_execution.test_a_fill_signal_is_taken_as_its_history_records_it,
    # Started the way the API and the intake start executions since 2026-12-07: rows made
    # first, the snapshot, search attributes and memo in the start (no creation activity).
    "service-emergency": test_execution.test_emergency_plan_runs_end_to_end,
    "service-dr": DR,
    # Recorded since the last step writes the end (its result says `recorded`): the workflow
    # records no end of its own (docs/performance.md).
    "finish-with-last-step": test_execution.test_emergency_plan_runs_end_to_end,
}
THROUGH_THE_SERVICE = {"service-emergency", "service-dr", "finish-with-last-step"}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_record(
    name: str, engine: Engine, simulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[WorkflowHandle[Any, Any]] = []
    original = Engine.start

    async def start(self: Engine, *args: Any, **kwargs: Any) -> WorkflowHandle[Any, Any]:
        if name in THROUGH_THE_SERVICE:
            service = Executions(self.env.client, self.queue, database_url=self.db)
            execution = await service.start(
                ExecutionInput(plan=args[0], triggered_by="test", **kwargs)
            )
            handle: WorkflowHandle[Any, Any] = self.env.client.get_workflow_handle(
                execution, result_type=ExecutionView
            )
        else:
            handle = await original(self, *args, **kwargs)
        started.append(handle)
        return handle

    monkeypatch.setattr(Engine, "start", start)
    scenario = SCENARIOS[name]
    available = {"engine": engine, "simulator_url": simulator_url}
    wanted = {p: available[p] for p in inspect.signature(scenario).parameters if p in available}
    await scenario(**wanted)
    for number, handle in enumerate(started, 1):
        history = await handle.fetch_history()
        (HERE / f"{name}-{number}.json").write_text(history.to_json())
        children = [
            e.child_workflow_execution_started_event_attributes.workflow_execution
            for e in history.events
            if e.HasField("child_workflow_execution_started_event_attributes")
        ]
        for child in children:
            child_history = await engine.env.client.get_workflow_handle(
                child.workflow_id, run_id=child.run_id
            ).fetch_history()
            suffix = re.sub(r"[^A-Za-z0-9_-]", "_", child.workflow_id.split("/", 1)[1])
            (HERE / f"{name}-{number}-{suffix}.json").write_text(child_history.to_json())
