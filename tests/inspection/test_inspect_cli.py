"""`nightwatch inspect …` through the API as an operator uses it, on the real dev server:
apply, list, show, run-now, pause, resume, back-fill, history; Schedules made as asked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from temporalio.client import ScheduleOverlapPolicy

from tests.inspection.conftest import Inspect, http_plan
from tests.support import Cli, cli_env, served_api, token_for, wait_until_async


@pytest_asyncio.fixture
async def cli(inspect: Inspect, tmp_path: Path) -> AsyncIterator[Cli]:
    target = inspect.env.client.service_client.config.target_host
    with served_api(inspect.db, target, task_queue=inspect.queue) as api_url:
        yield Cli(cli_env(inspect.db, target, inspect.queue, api_url), tmp_path)


def _write(path: Path, document: dict[str, object]) -> str:
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.devserver
async def test_operator_applies_runs_pauses_and_reads_history(
    cli: Cli, inspect: Inspect, tmp_path: Path
) -> None:
    name = inspect.name("cli")
    inspect.targets.status["pay"] = 500
    document = http_plan(
        name, inspect.targets.url, schedule={"cron": "0 3 * * *", "time_zone": "Asia/Shanghai"}
    )
    file = _write(tmp_path / "plan.yaml", document)
    code, out, err = await cli("inspect", "apply", file)
    assert code == 0, err
    assert f"created inspection plan {name!r} (version 1), schedule created" in out
    assert "unchanged" in (await cli("inspect", "apply", file))[1]

    described = await inspect.env.client.get_schedule_handle(f"inspect-{name}").describe()
    spec = described.schedule.spec
    # The server keeps a cron expression as a calendar.
    assert spec.time_zone_name == "Asia/Shanghai" and len(spec.calendars) == 1
    assert [r.start for r in spec.calendars[0].hour] == [3]
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(minutes=10)
    next_run = described.info.next_action_times[0].astimezone(UTC)
    assert (next_run.hour, next_run.minute) == (19, 0)  # 03:00 in Shanghai

    code, out, err = await cli("inspect", "run-now", name, "--json")
    assert code == 0, err
    started = json.loads(out)["workflow_id"]
    await inspect.env.client.get_workflow_handle(started).result()
    code, out, _ = await cli("inspect", "history", name, "--check", "pay-api", "--json")
    results = json.loads(out)["results"]
    assert [(r["check"], r["outcome"]) for r in results] == [("pay-api", "FAIL")]
    assert results[0]["failures"] == ["status < 400 (observed 500)"]

    code, out, _ = await cli("inspect", "pause", name, "--note", "core switch upgrade")
    assert code == 0
    shown = json.loads((await cli("inspect", "show", name, "--json"))[1])
    assert shown["schedule"]["paused"] is True
    assert shown["schedule"]["note"] == "core switch upgrade (li.wei)"
    assert [s["check"] for s in shown["states"] if s["failing"]] == ["pay-api"]
    listed = json.loads((await cli("inspect", "list", "--json"))[1])["inspections"]
    mine = next(p for p in listed if p["name"] == name)
    assert (mine["paused"], mine["failing"]) == (True, 1)
    assert (await cli("inspect", "resume", name))[0] == 0
    described = await inspect.env.client.get_schedule_handle(f"inspect-{name}").describe()
    assert described.schedule.state.paused is False

    # Back-fill: the cron's times in the window run now, recorded with their scheduled time.
    now = datetime.now(UTC)
    start = (now - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    code, _, err = await cli(
        "inspect", "backfill", name, "--start", start.isoformat(), "--end", end.isoformat()
    )
    assert code == 0, err
    runs = await inspect.until_runs(name, 2)
    backfilled = [r for r in runs if r.trigger == "BACKFILL"]
    assert len(backfilled) == 1, [(r.trigger, r.scheduled_at) for r in runs]
    assert backfilled[0].scheduled_at == start.replace(hour=19)


@pytest.mark.devserver
async def test_bad_plan_files_and_calls_are_clear_errors_naming_the_field(
    cli: Cli, inspect: Inspect, tmp_path: Path
) -> None:
    name = inspect.name("bad")
    bad = http_plan(name, inspect.targets.url, schedule={"cron": "61 * * * *"})
    bad["checks"][0]["conditions"] = ["status = 200", "cert_dayz > 14"]
    bad["checks"][1]["params"] = {"url": "ftp://x"}
    code, _, err = await cli("inspect", "apply", _write(tmp_path / "bad.yaml", bad))
    assert code == 1
    lines = err.strip().splitlines()
    assert any("schedule.cron: '61 * * * *' is not a 5-field cron expression" in x for x in lines)
    assert any("checks[0].conditions[0]: at position 8" in x for x in lines), lines
    assert any("checks[0].conditions[1]: http observes no 'cert_dayz'" in x for x in lines)
    assert any("checks[1].params.url: String should match pattern" in x for x in lines)
    assert all(x.startswith("error: ") for x in lines)
    code, _, err = await cli("inspect", "show", "no-such-plan")
    assert code == 1 and "no such inspection plan" in err
    future = datetime.now(UTC)
    await cli("inspect", "apply", _write(tmp_path / "ok.yaml", http_plan(name, "http://x")))
    code, _, err = await cli(
        "inspect",
        "backfill",
        name,
        "--start",
        future.isoformat(),
        "--end",
        (future - timedelta(hours=1)).isoformat(),
    )
    assert code == 1 and "end: must be after start" in err


@pytest.mark.devserver
async def test_a_viewer_reads_but_may_not_run_or_pause(cli: Cli, inspect: Inspect) -> None:
    name = inspect.name("roles")
    await inspect.apply(http_plan(name, inspect.targets.url))
    viewer = Cli({**cli.env, "NIGHTWATCH_TOKEN": token_for(inspect.db, "v", ["viewer"])}, cli.cwd)
    assert (await viewer("inspect", "show", name))[0] == 0
    for args in (("run-now", name), ("pause", name, "--note", "nope")):
        code, _, err = await viewer("inspect", *args)
        assert code == 1 and "403" not in err and "operator" in err, err
    described = await inspect.env.client.get_schedule_handle(f"inspect-{name}").describe()
    assert described.schedule.state.paused is False
    assert inspect.runs(name) == []

    async def nothing_ran() -> bool:
        return inspect.targets.hits.get("never", 0) == 0

    await wait_until_async(nothing_ran, within=1)
