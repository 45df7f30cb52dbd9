"""The execution commands end to end on the real dev server, as an operator uses them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from runtime.worker import build_worker
from tests.support import Cli, cli_env, served_api, token_for, wait_until_async

PLAN = """
name: cli end to end
scene: EMERGENCY
steps:
  - {name: look, action: CHECKPOINT, params: {note: start}}
  - {name: ask, action: CHECKPOINT, strategy: {preConfirm: true, confirmers: [role:duty-manager]}}
  - {name: call, action: HTTP_CALL, params: {}, pending: [url]}
"""
LONG = """
name: long wait
scene: EMERGENCY
steps:
  - {name: w, action: WAIT, params: {seconds: 3600}}
"""


@pytest_asyncio.fixture
async def cli(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str, tmp_path: Path
) -> AsyncIterator[Cli]:
    target = dev_env.client.service_client.config.target_host
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "long.yaml").write_text(LONG)
    with served_api(engine_db, target, task_queue=task_queue) as api_url:
        env = cli_env(engine_db, target, task_queue, api_url)
        async with build_worker(dev_env.client, task_queue, engine_db):
            yield Cli(env, tmp_path)


def _one_line(code: int, err: str) -> str:
    assert code == 1
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    return err


@pytest.mark.devserver
async def test_operator_drives_an_execution_from_the_cli(cli: Cli, simulator_url: str) -> None:
    assert (await cli("plan", "apply", "plan.yaml"))[0] == 0
    code, out, _ = await cli("run", "cli end to end", "--id", "exec-cli-e2e", "--wait")
    assert code == 3, out  # waiting for a person
    assert "waiting: step 2 'ask' waits for confirmation; may act: role:duty-manager" in out
    code, out, _ = await cli("inbox", "--json")
    assert [(i["execution"], i["node"]) for i in json.loads(out)["waiting"]] == [
        ("exec-cli-e2e", "2")
    ]
    intern_token = token_for(cli.env["DATABASE_URL"], "intern", ["approver"])
    intern = Cli({**cli.env, "NIGHTWATCH_TOKEN": intern_token}, cli.cwd)
    err = _one_line(*(await intern("confirm", "exec-cli-e2e", "2"))[::2])
    assert "intern may not act on node 2: only role:duty-manager" in err
    unknown = (await cli("confirm", "exec-cli-e2e", "2", "--user", "ciso"))[0]
    assert unknown == 2, "--user is gone: who acts is who signed in"
    code, _, _ = await cli("confirm", "exec-cli-e2e", "2", "-m", "go")
    assert code == 0

    async def waits_for_url() -> bool:
        out = (await cli("status", "exec-cli-e2e", "--json"))[1]
        return json.loads(out)["nodes"][2]["missing"] == ["url"] and "parameters" in out

    await wait_until_async(waits_for_url, within=30, what="step 3 waiting for its url")
    err = _one_line(*(await cli("fill", "exec-cli-e2e", "3", "url=ftp://x"))[::2])
    assert "url: String should match pattern" in err
    code, _, _ = await cli("fill", "exec-cli-e2e", "3", f"url={simulator_url}/probe/cli")
    assert code == 0
    seen: list[tuple[int, str]] = []

    async def ended() -> bool:
        code, out, _ = await cli("status", "exec-cli-e2e", "--json")
        seen[:] = [(code, out)]
        return code != 4 and json.loads(out)["state"] not in ("RUNNING", "WAITING")

    await wait_until_async(ended, within=30, what=f"the execution to end (seen {seen})")
    code, out = seen[0]
    view = json.loads(out)
    assert (code, view["state"]) == (0, "SUCCEEDED")
    assert [n["state"] for n in view["nodes"]] == ["SUCCEEDED"] * 3
    listed = json.loads((await cli("list", "--json"))[1])["executions"]
    assert listed[0]["execution"] == "exec-cli-e2e" and listed[0]["by"] == "li.wei"
    code, out, _ = await cli("rerun", "exec-cli-e2e", "--from", "3", "--wait")
    assert code == 0, out
    assert "SKIPPED" in out


@pytest.mark.devserver
async def test_cancel_from_the_cli(cli: Cli) -> None:
    assert (await cli("plan", "apply", "long.yaml"))[0] == 0
    assert (await cli("run", "long wait", "--id", "exec-cli-cancel"))[0] == 0
    err = _one_line(*(await cli("run", "long wait", "--id", "exec-cli-cancel"))[::2])
    assert (
        err == "error: execution exec-cli-cancel: runs already (nightwatch status "
        "exec-cli-cancel)\n"
    ), err
    err = _one_line(*(await cli("run", "ghost plan"))[::2])
    assert err == "error: ghost plan: no such plan (`nightwatch plan list`)\n", err
    assert (await cli("cancel", "exec-cli-cancel"))[0] == 0
    seen: list[tuple[int, str]] = []

    async def cancelled() -> bool:
        code, out, _ = await cli("status", "exec-cli-cancel", "--json")
        seen[:] = [(code, out)]
        return bool(json.loads(out)["state"] == "CANCELLED")

    await wait_until_async(cancelled, within=30, what=f"the execution cancelled (seen {seen})")
    code, out = seen[0]
    assert (code, json.loads(out)["nodes"][0]["state"]) == (1, "CANCELLED")
    err = _one_line(*(await cli("run", "long wait", "--id", "exec-cli-cancel"))[::2])
    assert "exec-cli-cancel: was used by an earlier execution; ids are never reused" in err
    err = _one_line(*(await cli("status", "no-such-execution"))[::2])
    assert "no-such-execution" in err


@pytest.mark.devserver
async def test_web_ui_style_start_with_plain_json_sets_search_attributes(
    cli: Cli, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    from nightwatch.temporal import EXECUTION_ID, PLAN_SCENE, TRIGGER_KIND

    assert (await cli("plan", "apply", "long.yaml"))[0] == 0
    handle = await dev_env.client.start_workflow(
        "PlanExecution",
        {"plan": "long wait", "overrides": {"1": {"seconds": 1}}, "triggered_by": "ui-user"},
        id="exec-from-ui",
        task_queue=task_queue,
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["state"] == "SUCCEEDED"
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(EXECUTION_ID) == "exec-from-ui"
    assert attributes.get(PLAN_SCENE) == "EMERGENCY"
    assert attributes.get(TRIGGER_KIND) == "OPERATOR"


@pytest.mark.devserver
async def test_a_secret_without_payload_keys_is_refused_before_anything_starts(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    assert (await cli("plan", "apply", "plan.yaml"))[0] == 0
    code, _, err = await cli(
        "run", "cli end to end", "--id", "exec-cli-secret", "--set", "3.bearer_token=hunter2"
    )
    assert "overrides.3.bearer_token: a secret value needs the payload keys" in _one_line(code, err)
    assert "hunter2" not in err
    with pytest.raises(RPCError):
        await dev_env.client.get_workflow_handle("exec-cli-secret").describe()
