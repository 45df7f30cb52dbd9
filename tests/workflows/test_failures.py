"""Failures, people's permissions, cancellation and database outages during executions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)

from storage.enums import NodeState
from tests.plans.samples import step
from tests.support import database_refusing_connections
from tests.workflows.conftest import Engine, activity_ids
from tests.workflows.test_execution import GATE, _act, _plan
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision, Fill


def _probe(simulator_url: str, name: str, **strategy: Any) -> dict[str, Any]:
    call = {
        "name": f"call {name}",
        "action": "HTTP_CALL",
        "params": {"url": f"{simulator_url}/probe/{name}"},
    }
    return call | ({"strategy": strategy} if strategy else {})


async def _fault(simulator_url: str, name: str, **fault: Any) -> None:
    async with httpx.AsyncClient() as http:
        await http.put(f"{simulator_url}/admin/faults/{name}", json=fault)


async def _calls(simulator_url: str, name: str) -> int:
    async with httpx.AsyncClient() as http:
        return int((await http.get(f"{simulator_url}/admin/calls/{name}")).json()["calls"])


async def test_failure_then_retry_succeeds(engine: Engine, simulator_url: str) -> None:
    await _fault(simulator_url, "flaky", status=503, count=10)
    handle = await engine.start(engine.apply(_plan("retry", _probe(simulator_url, "flaky"))))
    failed = await engine.node_when(handle, "1", lambda n: n.state == NodeState.FAILED_WAITING)
    assert "HTTP 503" in (failed.error or "")
    assert await _calls(simulator_url, "flaky") == 3  # HTTP_CALL makes 3 attempts
    _, nodes = engine.rows(handle.id)
    assert [n.state for n in nodes.values()] == ["FAILED_WAITING"]
    await _fault(simulator_url, "flaky", count=0)
    await _act(handle, PlanExecutionWorkflow.retry, "1", comment="platform back")
    result = await handle.result()
    assert (result.state, result.nodes[0].state, result.nodes[0].attempts) == (
        "SUCCEEDED",
        "SUCCEEDED",
        2,
    )
    assert await activity_ids(handle) == [
        "1 HTTP_CALL #1",
        "1 HTTP_CALL #2",
    ]  # a round each, named apart


async def test_failure_then_skip_goes_on(engine: Engine, simulator_url: str) -> None:
    await _fault(simulator_url, "down", status=503, count=100)
    plan = _plan("fail skip", _probe(simulator_url, "down"), step("CHECKPOINT", "after"))
    handle = await engine.start(engine.apply(plan))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.FAILED_WAITING)
    await _act(handle, PlanExecutionWorkflow.skip, "1", comment="do it tomorrow")
    result = await handle.result()
    assert [n.state for n in result.nodes] == ["SKIPPED", "SUCCEEDED"]


async def test_failure_then_abort_stops(engine: Engine, simulator_url: str) -> None:
    await _fault(simulator_url, "down2", status=503, count=100)
    plan = _plan("fail abort", _probe(simulator_url, "down2"), step("CHECKPOINT", "after"))
    handle = await engine.start(engine.apply(plan))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.FAILED_WAITING)
    await _act(handle, PlanExecutionWorkflow.abort, "1")
    result = await handle.result()
    assert result.state == "ABORTED"
    assert [n.state for n in result.nodes] == ["ABORTED", "ABORTED"]


async def test_strategy_continue_and_abort_need_no_person(
    engine: Engine, simulator_url: str
) -> None:
    await _fault(simulator_url, "gone", status=404, count=100, message="no such resource")
    go_on = _plan(
        "continue", _probe(simulator_url, "gone", onFailure="CONTINUE"), step("CHECKPOINT")
    )
    result = await (await engine.start(engine.apply(go_on))).result()
    assert [n.state for n in result.nodes] == ["FAILED", "SUCCEEDED"]
    assert result.state == "FAILED"
    assert await _calls(simulator_url, "gone") == 1  # 404 is permanent: never retried
    stop = _plan("stop", _probe(simulator_url, "gone", onFailure="ABORT"), step("CHECKPOINT"))
    result = await (await engine.start(engine.apply(stop))).result()
    assert (result.state, [n.state for n in result.nodes]) == ("ABORTED", ["FAILED", "ABORTED"])


async def test_done_by_hand_needs_a_comment(engine: Engine, simulator_url: str) -> None:
    await _fault(simulator_url, "manual", status=503, count=100)
    handle = await engine.start(engine.apply(_plan("by hand", _probe(simulator_url, "manual"))))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.FAILED_WAITING)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await _act(handle, PlanExecutionWorkflow.mark_done, "1")
    assert "needs a comment" in str(refused.value.cause)
    await _act(
        handle, PlanExecutionWorkflow.mark_done, "1", comment="restarted it from the console"
    )
    result = await handle.result()
    assert result.nodes[0].state == "DONE_BY_HAND"
    assert result.nodes[0].decisions[-1].comment == "restarted it from the console"


async def test_only_named_confirmers_may_confirm_and_approvals_add_up(engine: Engine) -> None:
    gate = {
        "strategy": {
            "preConfirm": True,
            "confirmers": ["role:duty-manager", "zhang.min"],
            "approvals": 2,
        }
    }
    handle = await engine.start(engine.apply(_plan("four eyes", step("CHECKPOINT", "a") | gate)))
    await engine.waiting(handle, "1")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await _act(handle, PlanExecutionWorkflow.confirm, "1", user="intern")
    assert "intern may not act on node 1: only role:duty-manager, zhang.min" in str(
        refused.value.cause
    )
    await _act(handle, PlanExecutionWorkflow.confirm, "1", user="li.wei", roles=["duty-manager"])
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await _act(
            handle, PlanExecutionWorkflow.confirm, "1", user="li.wei", roles=["duty-manager"]
        )
    assert "already approved" in str(twice.value.cause)
    assert (await engine.waiting(handle, "1")).approvals == ["li.wei"]
    await _act(handle, PlanExecutionWorkflow.confirm, "1", user="zhang.min")
    result = await handle.result()
    assert result.nodes[0].approvals == ["li.wei", "zhang.min"]


async def test_who_may_act_applies_to_filling_parameters_too(engine: Engine) -> None:
    waits = {"params": {}, "pending": ["note"], "strategy": {"confirmers": ["role:duty-manager"]}}
    handle = await engine.start(engine.apply(_plan("fill rule", step("CHECKPOINT", "a") | waits)))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.WAITING_PARAMETERS)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            PlanExecutionWorkflow.fill_parameters,
            Fill(node="1", user="intern", values={"note": "x"}),
        )
    assert "intern may not act on node 1: only role:duty-manager" in str(refused.value.cause)
    await handle.signal(
        PlanExecutionWorkflow.fill, Fill(node="1", user="intern", values={"note": "x"})
    )
    recorded = await engine.node_when(handle, "1", lambda n: bool(n.decisions))
    assert recorded.decisions[0].action == "REFUSED FILL" and recorded.missing == ["note"]
    await handle.execute_update(
        PlanExecutionWorkflow.fill_parameters,
        Fill(node="1", user="li.wei", roles=["duty-manager"], values={"note": "ok"}),
    )
    result = await handle.result()
    assert result.nodes[0].state == "SUCCEEDED" and result.nodes[0].params["note"] == "ok"


async def test_signal_path_records_refusals_and_acts_when_allowed(engine: Engine) -> None:
    gate = {"strategy": {"preConfirm": True, "confirmers": ["zhang.min"]}}
    handle = await engine.start(engine.apply(_plan("signals", step("CHECKPOINT", "a") | gate)))
    await engine.waiting(handle, "1")
    await handle.signal(PlanExecutionWorkflow.decide, Decision(node="1", user="intern"))
    refused = await engine.node_when(handle, "1", lambda n: bool(n.decisions))
    assert refused.decisions[0].action == "REFUSED CONFIRM"
    await handle.signal(PlanExecutionWorkflow.decide, Decision(node="1", user="zhang.min"))
    result = await handle.result()
    assert result.nodes[0].state == "SUCCEEDED"


async def test_unknown_node_is_refused(engine: Engine) -> None:
    handle = await engine.start(engine.apply(_plan("unknown", step("CHECKPOINT", "a") | GATE)))
    await engine.waiting(handle, "1")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await _act(handle, PlanExecutionWorkflow.confirm, "7")
    assert "no node '7'" in str(caught.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await _act(handle, PlanExecutionWorkflow.retry, "1")
    assert "waits for confirmation; possible: abort, confirm, reject, skip" in str(
        caught.value.cause
    )


async def test_cancel_mid_step_leaves_nothing_running(engine: Engine, simulator_url: str) -> None:
    await _fault(simulator_url, "slow", delay_seconds=60)
    plan = _plan("cancel", _probe(simulator_url, "slow"), step("CHECKPOINT", "never"))
    handle = await engine.start(engine.apply(plan))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.RUNNING)
    # The step is a real 60 s HTTP call: no time skipping while it is cancelled.
    with engine.env.auto_time_skipping_disabled():
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    execution, nodes = engine.rows(handle.id)
    assert execution.state == "CANCELLED"
    assert [n.state for n in nodes.values()] == ["CANCELLED", "CANCELLED"]


async def test_database_outage_during_a_step_still_ends_consistent(engine: Engine) -> None:
    plan = _plan("outage", step("CHECKPOINT", "a") | GATE, step("CHECKPOINT", "b"))
    handle = await engine.start(engine.apply(plan))
    await engine.waiting(handle, "1")
    with database_refusing_connections(engine.db):
        await _act(handle, PlanExecutionWorkflow.confirm, "1")
        # Both steps run while the database refuses connections.
        await engine.node_when(handle, "2", lambda n: n.state == NodeState.SUCCEEDED, within=60)
    result = await asyncio.wait_for(handle.result(), 120)
    assert result.state == "SUCCEEDED"
    execution, nodes = engine.rows(handle.id)
    assert execution.state == "SUCCEEDED" and execution.ended_at is not None
    assert [n.state for n in nodes.values()] == ["SUCCEEDED", "SUCCEEDED"]
    assert next(iter(nodes.values())).decisions[0]["action"] == "CONFIRM"


async def test_rerun_from_a_node_skips_the_earlier_ones(engine: Engine) -> None:
    plan = engine.apply(
        _plan(
            "rerun",
            step("CHECKPOINT", "a"),
            step("CHECKPOINT", "b") | {"params": {"note": "first"}},
            step("CHECKPOINT", "c"),
        )
    )
    first = await engine.start(plan, overrides={"2": {"note": "tuned"}})
    await first.result()
    again = await engine.start(plan, rerun_of=first.id, rerun_from="2", trigger_kind="RERUN")
    result = await again.result()
    assert [n.state for n in result.nodes] == ["SKIPPED", "SUCCEEDED", "SUCCEEDED"]
    assert result.nodes[1].output == {"note": "tuned"}  # the earlier run's effective value
    execution, _ = engine.rows(again.id)
    earlier, _ = engine.rows(first.id)
    assert (execution.rerun_of_id, execution.rerun_from_node) == (earlier.id, "2")
