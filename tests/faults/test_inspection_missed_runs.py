"""Temporal away past a Schedule's catch-up window: the runs it missed are counted by the
Schedule, shown by `inspect show`, and raise a risk event of their own."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from executions.inspections import Inspections
from inspection.model import parse_document
from runtime.worker import build_worker
from storage.db import session_factory
from tests.faults.conftest import RestartableTemporal, connect
from tests.inspection.conftest import Targets, targets
from tests.support import Say, wait_until_async

__all__ = ["targets"]  # the fixture


@pytest.mark.devserver
@pytest.mark.slow
async def test_runs_missed_while_temporal_was_away_raise_a_risk_event(
    temporal: RestartableTemporal, engine_db: str, targets: Targets, tmp_path: Path, say: Say
) -> None:
    from sqlalchemy import text

    queue = f"missed-{uuid.uuid4().hex[:8]}"
    name = f"missed-{uuid.uuid4().hex[:8]}"
    client = await connect(temporal.address)
    service = Inspections(client, queue, database_url=engine_db)
    doc = parse_document(
        {
            "format": "nightwatch/inspection/v1",
            "name": name,
            "schedule": {"every": "10s", "catchup_window": "10s"},
            "checks": [{"name": "up", "kind": "http", "params": {"url": f"{targets.url}/t/x"}}],
        }
    )
    await service.apply(doc, "tests")

    def runs() -> int:
        with session_factory(engine_db)() as session:
            return int(
                session.execute(
                    text(
                        "select count(*) from inspection_run r join inspection_plan p "
                        "on p.id = r.plan_id where p.name = :n and r.state = 'COMPLETED'"
                    ),
                    {"n": name},
                ).scalar_one()
            )

    def missed_events() -> list[str]:
        with session_factory(engine_db)() as session:
            rows = session.execute(
                text("select annotations ->> 'summary' from risk_event where alert_name = :n"),
                {"n": f"{name}/missed runs"},
            )
            return [str(row[0]) for row in rows]

    async with build_worker(client, queue, engine_db):
        await wait_until_async(lambda: _async(runs() >= 1), within=60, what="a scheduled run")
        temporal.kill()
        away_from = time.monotonic()
        say("Temporal killed; staying away 35 s, past the 10 s catch-up window")
        await wait_until_async(
            lambda: _async(time.monotonic() - away_from > 35), within=60, what="35 s to pass"
        )
        await temporal.start()
        client = await connect(temporal.address)
        service = Inspections(client, queue, database_url=engine_db)

        async def raised() -> bool:
            return bool(missed_events())

        await wait_until_async(raised, within=90, what="the missed-runs risk event")
    shown = await service.describe(name)
    assert shown["schedule"]["missed_catchup_window"] >= 2, shown["schedule"]
    events = missed_events()
    assert len(events) == 1 and "scheduled run(s) of" in events[0]
    say(f"missed runs: {shown['schedule']['missed_catchup_window']}; event: {events[0]}")
    await client.get_schedule_handle(f"inspect-{name}").delete()


async def _async(value: bool) -> bool:
    await asyncio.sleep(0)
    return value
