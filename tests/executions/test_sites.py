"""Where a step runs: its own `site`, else its sub-plan's, else its action's (system config
`execution.action_sites`), else any worker — fixed in the execution's snapshot."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from activities import creation
from plans import store
from plans.model import PlanDocument
from storage.db import session_factory
from storage.models import SystemConfig
from workflows.models import ExecutionInput

PLAN = {
    "name": "sited",
    "scene": "RECOVERY",
    "sub_plans": [
        {
            "type": "DISASTER_SWITCH",
            "site": "dc-b",
            "steps": [
                {"name": "note", "action": "CHECKPOINT"},
                {"name": "here", "action": "CHECKPOINT", "strategy": {"site": "dc-c"}},
            ],
        },
        {
            "type": "TRAFFIC_BACK",
            "steps": [
                {"name": "tell", "action": "NOTIFY", "params": {"channel": "ops", "message": "x"}},
                {"name": "anywhere", "action": "CHECKPOINT"},
            ],
        },
    ],
}


def test_a_steps_site_comes_from_the_step_then_its_sub_plan_then_its_action(
    catalog_db: str,
) -> None:
    with session_factory(catalog_db)() as session:
        store.apply(session, PlanDocument.model_validate(PLAN))
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "execution.action_sites")
            .values(value={"value": {"NOTIFY": "dc-a", "CHECKPOINT": "dc-z"}})
        )
        session.commit()
        snapshot = creation.create(
            session, f"sited-{uuid.uuid4().hex[:8]}", ExecutionInput(plan="sited")
        )
        session.rollback()
    sites = {child.key: child.strategy.site for node in snapshot.nodes for child in node.children}
    assert sites == {
        "DISASTER_SWITCH.1": "dc-b",  # its sub-plan's
        "DISASTER_SWITCH.2": "dc-c",  # its own
        "TRAFFIC_BACK.1": "dc-a",  # its action's
        "TRAFFIC_BACK.2": "dc-z",  # its action's too (CHECKPOINT)
    }
