"""Plan executions on the time-skipping server: steps, people, failures, cancellation."""

from __future__ import annotations

from datetime import timedelta

import httpx

from storage.enums import NodeState
from tests.plans.samples import step
from tests.workflows.conftest import Engine
from workflows.execution import PlanExecutionWorkflow
from workflows.models import Decision


def _plan(name: str, steps: list[dict[str, object]], scene: str = "EMERGENCY") -> dict[str, object]:
    return {"name": name, "scene": scene, "steps": steps}


async def test_emergency_plan_runs_end_to_end(engine: Engine, simulator_url: str) -> None:
    plan = engine.apply(_plan("e2e", [
        step("CHECKPOINT", "look"),
        step("WAIT", "settle") | {"params": {"seconds": 120}},
        step("NOTIFY", "tell") | {"params": {"channel": "ops", "message": "hello from e2e"}},
        step("CHECKPOINT", "gate") | {"strategy": {"preConfirm": True}},
    ]))  # fmt: skip
    handle = await engine.start(plan)
    await engine.env.sleep(timedelta(seconds=121))  # the WAIT step is a durable timer
    waiting = await engine.waiting(handle, "4")
    assert waiting.state == NodeState.WAITING_CONFIRMATION
    decision = Decision(node="4", user="li.wei", comment="looks fine")
    await handle.execute_update(PlanExecutionWorkflow.confirm, decision)
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    assert [n.state for n in result.nodes] == ["SUCCEEDED"] * 4
    assert result.nodes[1].output == {"waited_seconds": 120}
    gate = result.nodes[3]
    assert [(d.action, d.user, d.comment) for d in gate.decisions] == [("CONFIRM", "li.wei",
                                                                       "looks fine")]  # fmt: skip
    execution, nodes = engine.rows(handle.id)
    assert (execution.state, execution.ended_at is not None) == ("SUCCEEDED", True)
    assert [n.state for n in nodes.values()] == ["SUCCEEDED"] * 4
    assert list(nodes.values())[3].decisions[0]["user"] == "li.wei"
    async with httpx.AsyncClient() as http:
        chat = (await http.get(f"{simulator_url}/chat/ops")).json()["messages"]
    assert [m["text"] for m in chat] == ["hello from e2e"]
