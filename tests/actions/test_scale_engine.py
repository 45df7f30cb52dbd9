"""Scale-out inside executions: its own activity, cancellation while polling, and a worker
killed mid-poll (real process, real dev server) resuming without a second release order.
No credential ever reaches a workflow history or a log line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from storage.enums import NodeState
from tests.conftest import SIMULATOR_TOKEN, sim
from tests.support import holds_async, wait_until_async
from tests.workflows.conftest import Engine


def _scale_plan(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "scene": "EMERGENCY",
        "steps": [
            {
                "name": "degrade IAM",
                "action": "IAM_DEGRADE",
                "params": {"mode": "LOCAL_TOKEN_CACHE", "reason": "drill"},
            },
            {
                "name": "scale out loan-api",
                "action": "APP_SCALE_OUT",
                "params": {"app": "loan-api", "pods": 2, "batch_size": 1},
                **extra,
            },
        ],
    }


async def _orders(url: str) -> list[dict[str, Any]]:
    body = await sim(url, "GET", "/dap/v1/release-orders", params={"app": "loan-api"})
    return list(body["orders"])


async def _polls(url: str) -> int:
    return int((await sim(url, "GET", "/admin/calls/dap.get_order"))["calls"])


async def _stuck(url: str, stuck: bool) -> None:
    if stuck:
        await sim(url, "PUT", "/admin/faults/dap.order_progress", json={"stuck": True})
    else:
        await sim(url, "DELETE", "/admin/faults/dap.order_progress")


async def test_scale_out_runs_as_its_own_activity_and_stores_its_result(
    engine: Engine, simulator_url: str
) -> None:
    handle = await engine.start(engine.apply(_scale_plan("scale")))
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    scaled = result.nodes[1]
    assert scaled.output is not None
    assert (scaled.output["kind"], scaled.output["confirmed"], scaled.output["batches"]) == (
        "SCALE_OUT",
        2,
        2,
    )
    _, rows = engine.rows(handle.id)
    assert [r.output["order"] for r in rows.values() if r.output and "order" in r.output] == [
        o["id"] for o in await _orders(simulator_url)
    ]
    history = await handle.fetch_history()
    types = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert types == ["iam_degrade", "scale_out"]


async def test_cancel_while_polling_stops_and_says_where_the_order_was_left(
    engine: Engine, simulator_url: str
) -> None:
    await _stuck(simulator_url, True)
    handle = await engine.start(engine.apply(_scale_plan("cancel scale")))

    async def order_running() -> bool:
        orders = await _orders(simulator_url)
        return bool(orders) and orders[0]["state"] == "RUNNING"

    await wait_until_async(order_running, within=30, what="order running")
    await engine.node_when(handle, "2", lambda n: n.state == NodeState.RUNNING)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 60)
    polls = await _polls(simulator_url)
    execution, rows = engine.rows(handle.id)
    assert execution.state == "CANCELLED"
    node = list(rows.values())[1]
    assert node.state == "CANCELLED"
    assert node.output is not None and node.output["cancelled"] is True
    order = (await _orders(simulator_url))[0]
    assert node.output["progress"]["order"] == order["id"]
    assert node.output["progress"]["state"] == "RUNNING"

    # The step ended with the cancellation (the workflow waited for it): no more polls.
    async def no_new_poll() -> bool:
        return await _polls(simulator_url) == polls

    await holds_async(
        no_new_poll, during=1, what="no poll after the cancellation (several poll intervals)"
    )
    assert len(await _orders(simulator_url)) == 1


def _worker(env: WorkflowEnvironment, db: str, queue: str, log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "NIGHTWATCH_DATABASE_URL": db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "NIGHTWATCH_TASK_QUEUE": queue,
        "NIGHTWATCH_LOG_LEVEL": "DEBUG",
        "NIGHTWATCH_LOG_FORMAT": "json",  # JSON log lines
        # The test's client reads results in plain JSON (tests/audit runs encrypted).
        "NIGHTWATCH_PAYLOAD_ENCRYPTION": "off",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "nightwatch", "worker"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_worker_killed_mid_poll_resumes_without_a_second_order_and_leaks_no_credential(
    dev_env: WorkflowEnvironment,
    engine_db: str,
    task_queue: str,
    simulator_url: str,
    tmp_path: Path,
) -> None:
    engine = Engine(dev_env, engine_db, task_queue)
    await _stuck(simulator_url, True)
    log = tmp_path / "worker.log"
    first = _worker(dev_env, engine_db, task_queue, log)
    try:
        handle = await engine.start(engine.apply(_scale_plan("kill scale")))

        async def polling() -> bool:
            description = await handle.describe()
            pending = description.raw_description.pending_activities
            return bool(pending and pending[0].heartbeat_details.payloads)

        await wait_until_async(polling, within=60, what="scale-out heartbeating its order")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    await _stuck(simulator_url, False)
    second = _worker(dev_env, engine_db, task_queue, log)
    try:
        result = await asyncio.wait_for(handle.result(), 120)
    finally:
        second.terminate()
        second.wait(30)
    assert result.state == "SUCCEEDED"
    output = result.nodes[1].output
    assert output is not None and output["resumed"] is True
    orders = await _orders(simulator_url)
    assert [(o["id"], o["state"]) for o in orders] == [(output["order"], "SUCCEEDED")]
    # No credential anywhere: not in the history, not in any log line of either worker.
    history = (await handle.fetch_history()).to_json()
    assert "heartbeat" in log.read_text() or "resumed" in log.read_text()
    assert SIMULATOR_TOKEN not in history
    assert SIMULATOR_TOKEN not in log.read_text()
