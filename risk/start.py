"""Starting the plan a rule proposed for a risk event, once, as the person who asked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from executions.service import ExecutionExists, Executions, seal_overrides
from identity.model import Identity
from nightwatch.codec import KeyRing
from risk.actions import RiskActionError
from storage.db import session_factory
from storage.models import RiskEvent
from workflows.models import ExecutionInput


def proposed_id(event_id: int) -> str:
    return f"proposed-{event_id}"


async def start_proposed(
    url: str,
    executions: Executions,
    ring: KeyRing | None,
    event_id: int,
    identity: Identity,
    overrides: dict[str, dict[str, Any]],
) -> RiskEvent:
    """Start the proposed plan (the event is marked STARTED first, so two people cannot
    both start it; a failed start puts the proposal back)."""
    with session_factory(url)() as session:
        row = session.get(RiskEvent, event_id, with_for_update=True)
        if row is None:
            raise RiskActionError(404, "NotFound", "event_id", f"no risk event {event_id}")
        if row.execution_id:
            raise RiskActionError(409, "AlreadyStarted", "event_id", f"started: {row.execution_id}")
        if row.outcome != "PROPOSED" or not row.plan_name:
            raise RiskActionError(
                409, "NotProposed", "event_id", f"no plan is proposed for event {event_id}"
            )
        execution_id = proposed_id(event_id)
        row.execution_id, row.outcome = execution_id, "STARTED"
        row.reason = f"started by {identity.user}"
        plan = row.plan_name
        session.commit()
    params = ExecutionInput(
        plan=plan,
        overrides=seal_overrides(overrides, execution_id, ring, "overrides"),
        triggered_by=identity.user,
        proven_by=identity.proven_by,
        trigger_details={"risk_event": event_id, "proposed_by_rule": True},
    )
    try:
        await executions.start(params, execution_id)
    except ExecutionExists:
        pass
    except Exception:
        with session_factory(url)() as session:
            session.execute(
                text(
                    "update risk_event set execution_id = null, outcome = 'PROPOSED', reason = "
                    "null where id = :id and execution_id = :execution"
                ),
                {"id": event_id, "execution": execution_id},
            )
            session.commit()
        raise
    with session_factory(url)() as session:
        found = session.get(RiskEvent, event_id)
        assert found is not None
        session.expunge(found)
        return found
