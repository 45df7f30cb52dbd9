"""Plan executions on the time-skipping server: steps, people, timeouts, overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError

from plans import store
from storage.db import session_factory
from storage.enums import NodeState
from storage.models import Execution
from tests.plans.samples import step
from tests.workflows.conftest import Engine
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision, Fill

GATE = {"strategy": {"preConfirm": True}}


def _plan(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "scene": "EMERGENCY", "steps": list(steps)}


async def _act(handle: WorkflowHandle[Any, Any], update: Any, node: str, **kw: Any) -> Any:
    kw.setdefault("user", "li.wei")
    return await handle.execute_update(update, Decision(node=node, **kw))


async def _chat(simulator_url: str) -> list[str]:
    async with httpx.AsyncClient() as http:
        messages = (await http.get(f"{simulator_url}/chat/ops")).json()["messages"]
    return [m["text"] for m in messages]


async def test_emergency_plan_runs_end_to_end(engine: Engine, simulator_url: str) -> None:
    plan = engine.apply(
        _plan(
            "e2e",
            step("CHECKPOINT", "look"),
            step("WAIT", "settle") | {"params": {"seconds": 120}},
            step("NOTIFY", "tell") | {"params": {"channel": "ops", "message": "hello from e2e"}},
            step("CHECKPOINT", "gate") | GATE,
        )
    )
    handle = await engine.start(plan)
    await engine.node_when(handle, "2", lambda n: n.state == NodeState.RUNNING)
    await engine.env.sleep(timedelta(seconds=121))  # the WAIT step is a durable timer
    waiting = await engine.waiting(handle, "4")
    assert waiting.state == NodeState.WAITING_CONFIRMATION
    await _act(handle, PlanExecutionWorkflow.confirm, "4", comment="looks fine")
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    assert [n.state for n in result.nodes] == ["SUCCEEDED"] * 4
    assert result.nodes[1].output == {"waited_seconds": 120}
    confirmations = [(d.action, d.user, d.comment) for d in result.nodes[3].decisions]
    assert confirmations == [("CONFIRM", "li.wei", "looks fine")]
    execution, nodes = engine.rows(handle.id)
    assert (execution.state, execution.ended_at is not None) == ("SUCCEEDED", True)
    assert [n.state for n in nodes.values()] == ["SUCCEEDED"] * 4
    assert list(nodes.values())[3].decisions[0]["user"] == "li.wei"
    assert await _chat(simulator_url) == ["hello from e2e"]


async def test_dr_plan_runs_sub_plans_in_fixed_order_after_each_confirmation(
    engine: Engine,
) -> None:
    kinds = ("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK")

    def sub(kind: str) -> dict[str, Any]:
        steps = [step("CHECKPOINT", f"{kind} a"), step("CHECKPOINT", f"{kind} b")]
        return {"type": kind, "steps": steps}

    listed = [sub(kinds[2]), sub(kinds[0]), sub(kinds[1])]
    plan = engine.apply({"name": "dr", "scene": "RECOVERY", "sub_plans": listed})
    handle = await engine.start(plan)
    for kind in kinds:
        waiting = await engine.waiting(handle, kind)
        assert waiting.state == NodeState.WAITING_CONFIRMATION
        await _act(handle, PlanExecutionWorkflow.confirm, kind)
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    _, nodes = engine.rows(handle.id)
    assert len(nodes) == 3 + 6  # n + m
    assert {node.state for node in nodes.values()} == {"SUCCEEDED"}
    by_name = {node.name: node for node in nodes.values()}
    starts = [by_name[f"{kind} a"].started_at for kind in kinds]
    assert None not in starts and starts == sorted(starts)  # type: ignore[type-var]
    assert len([n for n in nodes.values() if n.parent_node_id is not None]) == 6
    child = engine.env.client.get_workflow_handle(f"{handle.id}/DISASTER_SWITCH")
    assert (await child.describe()).status is not None


async def test_skip_at_a_confirmation_goes_on(engine: Engine) -> None:
    plan = engine.apply(_plan("skip", step("CHECKPOINT", "a") | GATE, step("CHECKPOINT", "b")))
    handle = await engine.start(plan)
    await engine.waiting(handle, "1")
    await _act(handle, PlanExecutionWorkflow.skip, "1", comment="not needed tonight")
    result = await handle.result()
    assert [n.state for n in result.nodes] == ["SKIPPED", "SUCCEEDED"]
    assert result.state == "SUCCEEDED"


async def test_abort_at_a_confirmation_ends_the_execution(engine: Engine) -> None:
    plan = engine.apply(_plan("abort", step("CHECKPOINT", "a") | GATE, step("CHECKPOINT", "b")))
    handle = await engine.start(plan)
    await engine.waiting(handle, "1")
    await _act(handle, PlanExecutionWorkflow.abort, "1", comment="false alarm")
    result = await handle.result()
    assert result.state == "ABORTED"
    assert [n.state for n in result.nodes] == ["ABORTED", "ABORTED"]
    execution, nodes = engine.rows(handle.id)
    assert execution.state == "ABORTED"
    assert "false alarm" in (execution.error or "")
    assert {n.state for n in nodes.values()} == {"ABORTED"}


@pytest.mark.parametrize(
    ("on_timeout", "state", "first"),
    [
        ("SKIP", "SUCCEEDED", "SKIPPED"),
        ("FAIL", "FAILED", "FAILED"),
        ("ABORT", "ABORTED", "FAILED"),
    ],
)
async def test_confirmation_timeout_never_approves(
    engine: Engine, simulator_url: str, on_timeout: str, state: str, first: str
) -> None:
    strategy = {"preConfirm": True, "timeoutSeconds": 600, "reminderSeconds": 120}
    gated = step("CHECKPOINT", "a") | {"strategy": strategy | {"onTimeout": on_timeout}}
    plan = engine.apply(_plan(f"timeout {on_timeout}", gated, step("CHECKPOINT", "b")))
    handle = await engine.start(plan)
    result = await handle.result()  # the time-skipping server jumps over the 600 s
    assert result.state == state
    assert result.nodes[0].state == first
    assert "REMINDER" in [d.action for d in result.nodes[0].decisions]
    assert any("120s left" in text for text in await _chat(simulator_url))


async def test_pending_parameter_rejected_then_accepted(engine: Engine, simulator_url: str) -> None:
    call = {"name": "call", "action": "HTTP_CALL", "params": {}, "pending": ["url"]}
    handle = await engine.start(engine.apply(_plan("pending", call)))
    waiting = await engine.waiting(handle, "1")
    assert (waiting.state, waiting.missing) == (NodeState.WAITING_PARAMETERS, ["url"])

    async def fill(values: dict[str, Any]) -> None:
        fill = Fill(node="1", user="li.wei", values=values)
        await handle.execute_update(PlanExecutionWorkflow.fill_parameters, fill)

    with pytest.raises(WorkflowUpdateFailedError) as bad_value:
        await fill({"url": "ftp://nope"})
    assert "url: String should match pattern" in str(bad_value.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as not_waited_for:
        await fill({"timeout_seconds": 3})
    assert "does not wait for timeout_seconds" in str(not_waited_for.value.cause)
    assert (await engine.waiting(handle, "1")).missing == ["url"]
    await fill({"url": f"{simulator_url}/probe/ok"})
    result = await handle.result()
    assert result.nodes[0].state == "SUCCEEDED"
    assert result.nodes[0].output is not None and result.nodes[0].output["status"] == 200
    _, nodes = engine.rows(handle.id)
    (node,) = nodes.values()
    assert node.parameters["url"] == f"{simulator_url}/probe/ok"
    assert [d["action"] for d in node.decisions] == ["FILL"]


async def test_override_applies_to_that_execution_only(engine: Engine) -> None:
    plan = engine.apply(_plan("override", step("CHECKPOINT", "a") | {"params": {"note": "plan"}}))
    first = await engine.start(plan, overrides={"1": {"note": "tonight only"}})
    assert (await first.result()).nodes[0].output == {"note": "tonight only"}
    second = await engine.start(plan)
    assert (await second.result()).nodes[0].output == {"note": "plan"}
    with session_factory(engine.db)() as session:
        document = store.export(session, store.main_plan(session, plan).id)
    assert document.steps[0].params == {"note": "plan"}


async def test_invalid_override_fails_the_start_naming_the_field(engine: Engine) -> None:
    handle = await engine.start(
        engine.apply(_plan("bad override", step("WAIT", "w"))), overrides={"1": {"seconds": -5}}
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert "overrides.1.seconds" in str(caught.value.cause)


async def test_a_plain_text_secret_override_fails_the_start_and_writes_no_row(
    engine: Engine,
) -> None:
    call = step("HTTP_CALL", "call") | {"params": {"url": "https://x.bank/ping"}}
    handle = await engine.start(
        engine.apply(_plan("plain secret", call)), overrides={"1": {"bearer_token": "hunter2"}}
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    reason = str(caught.value.cause)
    assert "overrides.1.bearer_token" in reason and "never in plain text" in reason
    assert "hunter2" not in reason
    with session_factory(engine.db)() as session:
        assert session.scalar(select(Execution).where(Execution.execution_id == handle.id)) is None


async def test_editing_the_plan_never_changes_a_running_execution(engine: Engine) -> None:
    first = step("CHECKPOINT", "gate") | GATE
    second = step("CHECKPOINT", "b") | {"params": {"note": "before the edit"}}
    handle = await engine.start(engine.apply(_plan("edited", first, second)))
    await engine.waiting(handle, "1")
    edited = step("CHECKPOINT", "b") | {"params": {"note": "after the edit"}}
    engine.apply(_plan("edited", first, edited, step("CHECKPOINT", "c")))
    await _act(handle, PlanExecutionWorkflow.confirm, "1")
    result = await handle.result()
    assert [n.key for n in result.nodes] == ["1", "2"]
    assert result.nodes[1].output == {"note": "before the edit"}
    execution, _ = engine.rows(handle.id)
    assert execution.plan_version == 1
    assert execution.plan_snapshot["document"]["steps"][1]["params"] == {"note": "before the edit"}


async def test_a_fill_signal_is_taken_as_its_history_records_it(engine: Engine) -> None:
    waits = {"params": {}, "pending": ["note"]}
    handle = await engine.start(engine.apply(_plan("signal fill", step("CHECKPOINT") | waits)))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.WAITING_PARAMETERS)
    await handle.signal(
        PlanExecutionWorkflow.fill, Fill(node="1", user="li.wei", values={"note": "by signal"})
    )
    result = await handle.result()
    assert result.nodes[0].state == "SUCCEEDED"
    assert result.nodes[0].output == {"note": "by signal"}


async def test_values_a_signal_filled_in_are_checked_when_the_step_runs(engine: Engine) -> None:
    waits = {"params": {}, "pending": ["url"]}
    plan = _plan("signal bad fill", step("HTTP_CALL") | waits)
    handle = await engine.start(engine.apply(plan))
    await engine.node_when(handle, "1", lambda n: n.state == NodeState.WAITING_PARAMETERS)
    await handle.signal(
        PlanExecutionWorkflow.fill, Fill(node="1", user="li.wei", values={"url": "ftp://x"})
    )
    failed = await engine.node_when(handle, "1", lambda n: n.state == NodeState.FAILED_WAITING)
    assert failed.attempts == 1 and "url: String should match pattern" in (failed.error or "")
