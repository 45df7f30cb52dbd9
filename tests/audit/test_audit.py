"""Audit end to end on the real dev server with payload encryption on: a disaster-recovery
run with approvals, a filled (secret) parameter and a secret given at start; then the
report, the secret scan, the raw history, the archive and its chain, immutability."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from audit.archive import archive_closed, verify_chain
from identity import accounts
from identity.model import Role
from nightwatch.codec import KeyRing
from nightwatch.temporal import data_converter
from runtime.worker import build_worker
from storage.db import session_factory
from tests import support
from tests.conftest import SIMULATOR_TOKEN
from tests.support import libpq_url, wait_until_async

KEY = base64.b64encode(b"k" * 32).decode()
RING = KeyRing.parse([f"audit-1:{KEY}"], source="test")
COMMENT = "switch-approved-after-bridge-call-7f3a"  # a value to look for in raw history

PLAN = """
name: audit dr
scene: RECOVERY
sub_plans:
  - type: DISASTER_SWITCH
    steps:
      - {name: announce, action: CHECKPOINT, params: {note: switching}}
      - name: check iam
        action: HTTP_CALL
        params: {url: "SIM/iam/v1/mode"}
        pending: [bearer_token]
  - type: DISASTER_RECOVERY
    steps:
      - name: check iam again
        action: HTTP_CALL
        params: {url: "SIM/iam/v1/mode"}
  - type: TRAFFIC_BACK
    steps:
      - {name: done, action: CHECKPOINT, params: {note: traffic back}}
"""


class Cli(support.Cli):
    async def ok(self, *args: str, codes: tuple[int, ...] = (0,)) -> str:
        code, out, err = await self(*args)
        assert code in codes, (args, out, err)
        return out

    async def view(self, execution: str) -> dict[str, Any]:
        """`status --json` (exit 0 ended well, 3 waiting, 4 running)."""
        found: dict[str, Any] = json.loads(
            await self.ok("status", execution, "--json", codes=(0, 1, 3, 4))
        )
        return found


class Setup:
    def __init__(self, cli: Cli, client: Client, plain: Client, db: str) -> None:
        self.cli, self.client, self.plain, self.db = cli, client, plain, db


@pytest_asyncio.fixture
async def setup(
    dev_env: WorkflowEnvironment,
    engine_db: str,
    task_queue: str,
    tmp_path: Path,
    simulator_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Setup]:
    # Platform credentials as production keeps them: a reference to the worker's environment
    # (so the only copies of the token in this test are the secret parameters under test).
    monkeypatch.setenv("NIGHTWATCH_TEST_SIMULATOR_TOKEN", SIMULATOR_TOKEN)
    with psycopg.connect(libpq_url(engine_db), autocommit=True) as conn:
        conn.execute(
            """UPDATE system_config SET value = '{"value": "env:NIGHTWATCH_TEST_"""
            """SIMULATOR_TOKEN"}' WHERE key LIKE 'platform.%.token'"""
        )
    target = dev_env.client.service_client.config.target_host
    keys = f"audit-1:{KEY}"
    (tmp_path / "plan.yaml").write_text(PLAN.replace("SIM", simulator_url))
    with support.served_api(engine_db, target, task_queue=task_queue, payload_keys=keys) as url:
        env = support.cli_env(
            engine_db,
            target,
            task_queue,
            url,
            NIGHTWATCH_PAYLOAD_KEYS=keys,
            NIGHTWATCH_HOME=str(tmp_path / "home"),
        )
        encrypted = await Client.connect(target, data_converter=data_converter(RING))
        async with build_worker(encrypted, task_queue, engine_db, RING):
            yield Setup(Cli(env, tmp_path), encrypted, dev_env.client, engine_db)


async def _until_state(cli: Cli, execution: str, wanted: str) -> dict[str, object]:
    seen: list[dict[str, object]] = []

    async def check() -> bool:
        seen[:] = [await cli.view(execution)]
        return seen[0]["state"] == wanted or bool(seen[0].get("waiting_for"))

    await wait_until_async(check, within=60, what=f"{execution} {wanted} or waiting")
    return seen[0]


async def _waiting(cli: Cli, execution: str, node: str) -> None:
    async def check() -> bool:
        view = await cli.view(execution)
        return any(n["key"] == node and n.get("waiting_for") for n in view["nodes"])

    await wait_until_async(check, within=60, what=f"{node} waiting")


def _database_text(db: str) -> str:
    """Every row of every table, as text."""
    with psycopg.connect(libpq_url(db)) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')
        )


async def _archive_all(setup: Setup, execution: str, count: int) -> None:
    async def archived() -> bool:
        await archive_closed(setup.plain, setup.db)
        with psycopg.connect(libpq_url(setup.db)) as conn:
            found = conn.execute(
                "SELECT count(*) FROM history_archive WHERE execution_id = %s", (execution,)
            ).fetchone()
        return found is not None and found[0] == count

    await wait_until_async(archived, within=60, what=f"{count} histories of {execution} archived")


@pytest.mark.devserver
async def test_audit_of_an_encrypted_dr_run_with_approvals_fill_and_secrets(
    setup: Setup, capfd: pytest.CaptureFixture[str]
) -> None:
    cli, execution = setup.cli, "exec-audit-dr"
    await cli.ok("plan", "apply", "plan.yaml")
    await cli.ok(
        "run",
        "audit dr",
        "--id",
        execution,
        "--set",
        f"DISASTER_RECOVERY.1.bearer_token={SIMULATOR_TOKEN}",
    )
    await _waiting(cli, execution, "DISASTER_SWITCH")
    await cli.ok("confirm", execution, "DISASTER_SWITCH", "--comment", COMMENT)
    await _waiting(cli, execution, "DISASTER_SWITCH.2")
    # A plain-text secret sent around the CLI is refused before it reaches the history.
    child = setup.client.get_workflow_handle(execution + "/DISASTER_SWITCH")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await child.execute_update(
            "fill_parameters",
            {"node": "DISASTER_SWITCH.2", "user": "mallory", "values": {"bearer_token": "pw"}},
        )
    assert "bearer_token: secret, so it must arrive sealed" in str(refused.value.cause)
    await cli.ok("fill", execution, "DISASTER_SWITCH.2", f"bearer_token={SIMULATOR_TOKEN}")
    await _waiting(cli, execution, "DISASTER_RECOVERY")
    await cli.ok("confirm", execution, "DISASTER_RECOVERY", "--comment", "recovery go")
    await _waiting(cli, execution, "TRAFFIC_BACK")
    zhang_token = support.token_for(setup.db, "zhang.min", ["approver"])
    zhang = Cli({**cli.env, "NIGHTWATCH_TOKEN": zhang_token}, cli.cwd)
    await zhang.ok("confirm", execution, "TRAFFIC_BACK")
    final = await _until_state(cli, execution, "SUCCEEDED")
    assert final["state"] == "SUCCEEDED", final  # both HTTP calls got the unsealed token

    # The report, in its three forms.
    report = json.loads(await cli.ok("audit", execution, "--format", "json"))
    assert report["agrees"] is True, report["differences"]
    assert report["history"]["source"] == "temporal"
    assert len(report["history"]["workflows"]) == 4  # the execution and its three sub-plans
    assert report["plan"]["name"] == "audit dr" and report["plan"]["scene"] == "RECOVERY"
    assert report["plan"]["snapshot"]["sub_plans"][0]["type"] == "DISASTER_SWITCH"
    assert report["trigger"]["kind"] == "OPERATOR" and report["trigger"]["by"] == "li.wei"
    assert report["trigger"]["overrides"]["DISASTER_RECOVERY.1"]["bearer_token"] == "***"
    assert report["outcome"]["state"] == "SUCCEEDED"
    nodes = {node["key"]: node for node in report["nodes"]}
    assert {k: n["state"] for k, n in nodes.items()} == {
        "DISASTER_SWITCH": "SUCCEEDED",
        "DISASTER_SWITCH.1": "SUCCEEDED",
        "DISASTER_SWITCH.2": "SUCCEEDED",
        "DISASTER_RECOVERY": "SUCCEEDED",
        "DISASTER_RECOVERY.1": "SUCCEEDED",
        "TRAFFIC_BACK": "SUCCEEDED",
        "TRAFFIC_BACK.1": "SUCCEEDED",
    }
    assert nodes["DISASTER_SWITCH.2"]["params"]["bearer_token"] == "***"
    assert nodes["DISASTER_RECOVERY.1"]["params"]["bearer_token"] == "***"
    switch = nodes["DISASTER_SWITCH"]["decisions"]
    assert [(d["action"], d["user"], d["comment"]) for d in switch] == [
        ("CONFIRM", "li.wei", COMMENT)
    ]
    assert [(d["action"], d["user"]) for d in nodes["TRAFFIC_BACK"]["decisions"]] == [
        ("CONFIRM", "zhang.min")
    ]
    filled = nodes["DISASTER_SWITCH.2"]["decisions"]
    assert [d["action"] for d in filled] == ["FILL"]
    assert filled[0]["user"] == "li.wei" and filled[0]["details"]["filled"] == ["bearer_token"]
    assert filled[0]["details"]["proven_by"].startswith("api-token ")
    unproven = [p["user"] for p in report["people"] if not p["proven_by"]]
    assert unproven == [], "every act came through the API (mallory's never reached history)"
    assert report["trigger"]["proven_by"].startswith("api-token ")
    acts = [(p["via"], p["node"], p["action"], p["user"]) for p in report["people"]]
    assert ("update confirm", "DISASTER_SWITCH", "CONFIRM", "li.wei") in acts
    assert ("update fill_parameters", "DISASTER_SWITCH.2", "FILL", "li.wei") in acts
    fill = next(p for p in report["people"] if p["via"] == "update fill_parameters")
    assert fill["values"] == {"bearer_token": "***"}
    steps = {s["node"]: s for s in report["steps"]}
    assert steps["DISASTER_RECOVERY.1"]["outcome"] == "completed"
    assert steps["DISASTER_RECOVERY.1"]["params"]["bearer_token"] == "***"
    markdown = await cli.ok("audit", execution)
    assert "# Audit report: exec-audit-dr" in markdown and COMMENT in markdown
    assert "| DISASTER_SWITCH.2 | FILL | li.wei |" in markdown
    assert "Database and history | agree" in markdown
    html = await cli.ok("audit", execution, "--format", "html")
    assert html.startswith("<!doctype html>") and COMMENT in html

    # The raw history (as Temporal stores it) holds neither the secret nor any plain value.
    raw = ""
    for workflow_id in [execution] + [
        f"{execution}/{k}" for k in ("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK")
    ]:
        raw += (await setup.plain.get_workflow_handle(workflow_id).fetch_history()).to_json()
    assert "binary/encrypted" in raw or base64.b64encode(b"binary/encrypted").decode() in raw
    for plain in (SIMULATOR_TOKEN, COMMENT, "/iam/v1/mode", "audit dr", "li.wei"):
        assert plain not in raw, f"{plain!r} readable in the raw history"

    # Sign-ins leave no password, cookie or token behind either.
    credentials = _sign_in_twice(cli.env["NIGHTWATCH_API_URL"], setup.db)
    credentials |= {"li.wei's token": cli.env["NIGHTWATCH_TOKEN"], "zhang's token": zhang_token}

    # The archive, then the secret scan over everything a person or an attacker can read.
    await _archive_all(setup, execution, 4)
    database = _database_text(setup.db)
    captured = capfd.readouterr()
    for where, text in {
        "history": raw,
        "CLI output": "\n".join(cli.printed),
        "database": database,
        "logs": captured.out + captured.err,
        "report": json.dumps(report) + markdown + html,
    }.items():
        assert SIMULATOR_TOKEN not in text, f"the secret is readable in the {where}"
        for name, value in credentials.items():
            assert value not in text, f"{name} is readable in the {where}"
    assert "sealed:v2:audit-1:" in database  # what the database holds instead

    # Retention: once Temporal has deleted the histories, replay and audit use the archive.
    for workflow_id in [execution] + [
        f"{execution}/{k}" for k in ("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK")
    ]:
        await setup.plain.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )

    async def deleted() -> bool:
        try:
            await setup.plain.get_workflow_handle(execution).fetch_history()
        except RPCError:
            return True
        return False

    await wait_until_async(deleted, within=60, what="history deleted")
    again = json.loads(await cli.ok("audit", execution, "--format", "json"))
    assert again["history"]["source"] == "archive" and again["agrees"] is True
    assert again["nodes"] == report["nodes"] and again["people"] == report["people"]
    replayed = json.loads(await cli.ok("replay", execution, "--json"))
    assert replayed["replayed"] == 4 and replayed["failed"] == 0
    assert (await cli.ok("audit", "verify")).strip().endswith("chain intact")

    # Finished rows are immutable; a change made behind the product's back shows in the report.
    with psycopg.connect(libpq_url(setup.db), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="immutable"):
            conn.execute(
                "UPDATE pre_plan_execute_node SET state = 'FAILED' FROM "
                "pre_plan_execute_order e WHERE e.id = execute_order_id "
                "AND e.execution_id = %s",
                (execution,),
            )
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="immutable"):
            conn.execute("DELETE FROM pre_plan_execute_order WHERE execution_id = %s", (execution,))
        conn.execute("SET session_replication_role = replica")  # an attacker with superuser
        conn.execute(
            "UPDATE pre_plan_execute_node SET state = 'SKIPPED' FROM "
            "pre_plan_execute_order e WHERE e.id = execute_order_id "
            "AND e.execution_id = %s AND name = 'done'",
            (execution,),
        )
    code, out, _ = await cli("audit", execution, "--format", "json")
    tampered = json.loads(out)
    assert code == 1 and tampered["agrees"] is False
    assert {
        "where": "nodes.TRAFFIC_BACK.1.state",
        "history": "SUCCEEDED",
        "database": "SKIPPED",
    } in tampered["differences"]
    assert "DISAGREE" in (await cli("audit", execution))[1]


@pytest.mark.devserver
async def test_verify_reports_a_tampered_or_removed_archive_row(setup: Setup) -> None:
    cli = setup.cli
    await cli.ok("plan", "apply", "plan.yaml")
    with psycopg.connect(libpq_url(setup.db), autocommit=True) as conn:
        conn.execute("TRUNCATE history_archive")
    executions = [f"exec-chain-{n}" for n in range(3)]
    for execution in executions:
        await cli.ok("run", "audit dr", "--id", execution)
        await cli.ok("abort", execution, "*", "--comment", "chain test")
        await _until_state(cli, execution, "ABORTED")
    for execution in executions:
        await _archive_all(setup, execution, 1)
    check = verify_chain(setup.db)
    assert check.ok and check.rows >= 3
    with psycopg.connect(libpq_url(setup.db), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute("DELETE FROM history_archive")
        conn.execute("SET session_replication_role = replica")
        row = conn.execute(
            "SELECT id, history_gz FROM history_archive WHERE execution_id = %s", (executions[1],)
        ).fetchone()
        assert row is not None
        text = gzip.decompress(row[1]).decode().replace('"eventId"', '"eventId" ', 1)
        conn.execute(
            "UPDATE history_archive SET history_gz = %s WHERE id = %s",
            (gzip.compress(text.encode()), row[0]),
        )
    code, out, _ = await cli("audit", "verify")
    assert code == 1
    assert f"row {row[0]} ({executions[1]}): history does not match its SHA-256" in out
    with psycopg.connect(libpq_url(setup.db), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM history_archive WHERE id = %s", (row[0],))
    code, out, _ = await cli("audit", "verify", "--json")
    result = json.loads(out)
    assert code == 1 and any("removed or reordered" in line for line in result["broken"])


def _sign_in_twice(api_url: str, db: str) -> dict[str, str]:
    """A password sign-in to a session and to a CLI token: the secrets it involved."""
    password = "a long password of the ops lead"
    with session_factory(db)() as session:
        accounts.create(session, "ops.lead", password, frozenset({Role.OPERATOR}), by="tests")
        session.commit()
    body = {"username": "ops.lead", "password": password}
    signed_in = httpx.post(f"{api_url}/auth/login", json=body)
    cookie = signed_in.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    me = httpx.get(f"{api_url}/auth/me", headers={"Cookie": f"nightwatch_session={cookie}"})
    assert me.json()["user"] == "ops.lead"
    token = httpx.post(f"{api_url}/auth/token", json=body).json()["token"]
    assert httpx.get(f"{api_url}/auth/me", headers={"Authorization": f"Bearer {token}"}).is_success
    wrong = httpx.post(f"{api_url}/auth/login", json={**body, "password": "guessed wrongly!"})
    assert wrong.status_code == 401
    return {
        "password": password,
        "wrong password": "guessed wrongly!",
        "session cookie": cookie,
        "CLI token": token,
        "CSRF token": signed_in.json()["csrf_token"],
    }
