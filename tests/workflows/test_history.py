"""Histories stay small: few events per step, and a 500-step plan completes."""

from __future__ import annotations

from tests.plans.samples import step
from tests.workflows.conftest import Engine
from tests.workflows.test_execution import _plan

# Per step: the activity's scheduled/started/completed events and one workflow task's
# scheduled/started/completed: node bookkeeping adds no event of its own.
MAX_EVENTS_PER_STEP = 6


async def _events(engine: Engine, steps: int) -> tuple[int, str]:
    plan = _plan(f"{steps} steps", *[step("CHECKPOINT", f"step {i}") for i in range(1, steps + 1)])
    handle = await engine.start(engine.apply(plan))
    result = await handle.result()
    assert result.state == "SUCCEEDED"
    assert len(result.nodes) == steps
    return len((await handle.fetch_history()).events), handle.id


async def test_events_per_step_and_a_500_step_plan(engine: Engine) -> None:
    short, _ = await _events(engine, 10)
    long, execution_id = await _events(engine, 500)
    per_step = (long - short) / 490
    print(f"history: {long} events for 500 steps; {per_step:.2f} per added step")
    assert per_step <= MAX_EVENTS_PER_STEP
    _, nodes = engine.rows(execution_id)
    assert len(nodes) == 500
    assert {n.state for n in nodes.values()} == {"SUCCEEDED"}
