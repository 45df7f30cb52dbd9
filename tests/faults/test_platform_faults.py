"""Platform faults from the simulator, through whole executions on the real dev server:
retries, permanent errors and timeouts behave as the catalog declares them."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from runtime.worker import build_worker
from storage.enums import NodeState
from tests.conftest import sim
from tests.faults.conftest import consistent, engine_on
from tests.support import Say
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision


def _call(url: str, name: str, **params: Any) -> dict[str, Any]:
    return {
        "name": f"call {name}",
        "action": "HTTP_CALL",
        "params": {"url": f"{url}/probe/{name}", **params},
    }


async def _calls(url: str, name: str) -> int:
    return int((await sim(url, "GET", f"/admin/calls/{name}"))["calls"])


@pytest.mark.devserver
async def test_faults_behave_as_declared(
    dev_env: WorkflowEnvironment, engine_db: str, simulator_url: str, task_queue: str, say: Say
) -> None:
    url = simulator_url
    engine = engine_on(dev_env.client, engine_db, task_queue)
    faults = {
        "burst": {"status": 503, "count": 2},  # a 5xx burst shorter than the attempts
        # The platform says a 503 is not worth retrying: its word wins.
        "iam.mode": {"status": 503, "count": -1, "retryable": False, "message": "read-only"},
        "gone": {"status": 404, "count": -1},  # a 4xx: permanent
        "slow": {"delay_seconds": 3, "count": 0},  # slower than the call's timeout
    }
    for name, fault in faults.items():
        await sim(url, "PUT", f"/admin/faults/{name}", json=fault)
    plans = {
        "burst": [_call(url, "burst")],
        "refused": [
            {
                "name": "degrade IAM",
                "action": "IAM_DEGRADE",
                "params": {"mode": "LOCAL_TOKEN_CACHE", "reason": "fault drill"},
            }
        ],
        "gone": [_call(url, "gone")],
        "slow": [_call(url, "slow", timeout_seconds=1)],
    }
    try:
        async with build_worker(dev_env.client, task_queue, engine_db):
            handles = {
                name: await engine.start(
                    engine.apply({"name": f"fault {name}", "scene": "EMERGENCY", "steps": steps})
                )
                for name, steps in plans.items()
            }
            burst = await handles["burst"].result()
            assert burst.state == "SUCCEEDED"
            assert await _calls(url, "burst") == 3
            report = await consistent(dev_env.client, engine_db, handles["burst"].id)
            assert [(s["attempts"], s["outcome"]) for s in report["steps"]] == [(3, "completed")]
            say("5xx burst of 2: retried, succeeded on attempt 3 (HTTP_CALL declares 3)")
            for name, probe, calls, text in (
                ("refused", "iam.mode", 1, "read-only"),
                ("gone", "gone", 1, "HTTP 404"),
                ("slow", "slow", 3, "ReadTimeout"),
            ):
                node = await engine.node_when(
                    handles[name], "1", lambda n: n.state == NodeState.FAILED_WAITING, within=90
                )
                assert text in (node.error or ""), node.error
                assert await _calls(url, probe) == calls, name
                await handles[name].execute_update(
                    PlanExecutionWorkflow.abort, Decision(node="1", user="li.wei")
                )
                assert (await handles[name].result()).state == "ABORTED"
                say(f"{name}: {calls} call(s), then the step waits for a person: {text!r}")
    finally:
        for name in faults:
            await sim(url, "DELETE", f"/admin/faults/{name}")
    for handle in handles.values():
        await consistent(dev_env.client, engine_db, handle.id)
