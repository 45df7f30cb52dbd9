"""The execution API with proven identities: who starts, fills, confirms and rejects is
the authenticated caller, checked against roles, the step's "may act" list and the
plan's four-eyes rule, and recorded with how it was proven."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from nightwatch.config import load_settings
from runtime.worker import build_worker
from tests.plans.samples import SAMPLE_PARAMS
from tests.support import bearer, serve, token_for, wait_until_async

PLAN = {
    "name": "api drill",
    "scene": "EMERGENCY",
    "four_eyes": True,
    "steps": [
        {
            "name": "look first",
            "action": "CHECKPOINT",
            "params": SAMPLE_PARAMS["CHECKPOINT"],
            "strategy": {"preConfirm": True, "confirmers": ["role:approver"]},
        },
        {
            "name": "limit the rate",
            "action": "RATE_LIMIT_APPLY",
            "params": {"service": "loan-service", "resource": "/apply"},
            "pending": ["qps"],
            "strategy": {"preConfirm": True, "confirmers": ["group:duty-manager"]},
        },
    ],
}
PEOPLE = {
    "admin": (["admin"], []),
    "op": (["operator"], []),
    "ap": (["approver"], []),
    "lead": (["operator", "approver"], []),
    "dm": (["operator", "approver"], ["duty-manager"]),
}


class People:
    """One HTTP client per person, each with an API token of its own."""

    def __init__(self, url: str, db: str) -> None:
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url, timeout=60, headers=bearer(token_for(db, name, roles, groups))
            )
            for name, (roles, groups) in PEOPLE.items()
        }

    def __getitem__(self, name: str) -> httpx.AsyncClient:
        return self.clients[name]

    async def view(self, execution: str) -> dict[str, Any]:
        answer = await self["op"].get(f"/api/v1/executions/{execution}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def until(
        self, execution: str, done: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        seen: list[dict[str, Any]] = []

        async def check() -> bool:
            seen[:] = [await self.view(execution)]
            return done(seen[0])

        try:
            await wait_until_async(check, within=60, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}") from None
        return seen[0]

    async def node(self, execution: str, key: str, state: str) -> dict[str, Any]:
        view = await self.until(
            execution,
            lambda v: any(n["key"] == key and n["state"] == state for n in v["nodes"]),
            f"node {key} {state}",
        )
        return next(n for n in view["nodes"] if n["key"] == key)

    async def start(self, who: str, **body: Any) -> str:
        answer = await self[who].post("/api/v1/executions", json={"plan": "api drill", **body})
        assert answer.status_code == 201, answer.text
        execution: str = answer.json()["execution_id"]
        return execution

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@pytest_asyncio.fixture
async def people(
    time_skipping_env: WorkflowEnvironment, engine_db: str, task_queue: str
) -> AsyncIterator[People]:
    target = time_skipping_env.client.service_client.config.target_host
    settings = load_settings(database_url=engine_db, temporal_address=target, task_queue=task_queue)
    async with build_worker(time_skipping_env.client, task_queue, engine_db):
        with serve(create_app(settings)) as url:
            crowd = People(url, engine_db)
            created = await crowd["admin"].post("/api/v1/plans", json=PLAN)
            assert created.status_code == 201, created.text
            yield crowd
            await crowd.aclose()


def _post(client: httpx.AsyncClient, execution: str, node: str, what: str, **body: Any) -> Any:
    return client.post(f"/api/v1/executions/{execution}/nodes/{node}/{what}", json=body)


async def test_people_act_as_who_they_proved_to_be(people: People) -> None:
    forged = await people["op"].post(
        "/api/v1/executions", json={"plan": "api drill", "triggered_by": "ciso"}
    )
    assert forged.status_code == 422 and forged.json()["path"] == "triggered_by"

    execution = await people.start("op")
    await people.node(execution, "1", "WAITING_CONFIRMATION")
    inbox_ap = (await people["ap"].get("/api/v1/inbox")).json()
    inbox_op = (await people["op"].get("/api/v1/inbox")).json()
    assert [(i["execution"], i["node"]) for i in inbox_ap] == [(execution, "1")]
    assert inbox_op == [], "op is no approver: node 1 is not for op"

    as_operator = await _post(people["op"], execution, "1", "confirm")
    assert as_operator.status_code == 403 and "approver" in as_operator.json()["reason"]
    with_user = await _post(people["ap"], execution, "1", "confirm", user="dm")
    assert with_user.status_code == 422 and with_user.json()["path"] == "user"

    confirmed = await _post(people["ap"], execution, "1", "confirm", comment="looked")
    assert confirmed.status_code == 200, confirmed.text
    decision = confirmed.json()["decisions"][-1]
    assert decision["user"] == "ap" and decision["details"]["proven_by"].startswith("api-token ")

    await people.node(execution, "2", "WAITING_PARAMETERS")
    not_on_the_list = await _post(people["op"], execution, "2", "fill", values={"qps": 40})
    assert not_on_the_list.status_code == 409
    assert "op may not act" in not_on_the_list.json()["reason"]
    bad = await _post(people["dm"], execution, "2", "fill", values={"qps": -5})
    assert bad.status_code == 422, bad.text  # a value the action refuses, on its field
    assert bad.json()["problems"][0]["path"] == "values.qps"
    filled = await _post(people["dm"], execution, "2", "fill", values={"qps": 40})
    assert filled.status_code == 200, filled.text

    await people.node(execution, "2", "WAITING_CONFIRMATION")
    not_in_group = await _post(people["ap"], execution, "2", "confirm")
    assert not_in_group.status_code == 409
    assert "may not act" in not_in_group.json()["reason"]
    assert (await _post(people["dm"], execution, "2", "confirm")).status_code == 200
    view = await people.until(execution, lambda v: v["state"] == "SUCCEEDED", "the end")
    fill_record = next(d for d in view["nodes"][1]["decisions"] if d["action"] == "FILL")
    assert fill_record["user"] == "dm" and fill_record["details"]["groups"] == ["duty-manager"]

    page = (
        await people["ap"].get(
            "/api/v1/executions",
            params={"state": "SUCCEEDED", "plan": "api drill", "trigger": "OPERATOR"},
        )
    ).json()
    assert [row["execution"] for row in page["executions"]] == [execution]
    assert page["executions"][0]["by"] == "op" and page["next_offset"] is None


async def test_four_eyes_and_a_rejection(people: People) -> None:
    execution = await people.start("lead")
    await people.node(execution, "1", "WAITING_CONFIRMATION")
    own = await _post(people["lead"], execution, "1", "confirm")
    assert own.status_code == 409 and "four eyes" in own.json()["reason"]
    waiting_for_ap = (
        await people["ap"].get("/api/v1/executions", params={"waiting_for_me": "true"})
    ).json()
    assert [row["execution"] for row in waiting_for_ap["executions"]] == [execution]

    rejected = await _post(people["ap"], execution, "1", "reject", comment="not now")
    assert rejected.status_code == 200, rejected.text
    view = await people.until(execution, lambda v: v["state"] == "ABORTED", "the rejection")
    assert view["nodes"][0]["decisions"][-1]["action"] == "REJECT"


async def test_unknown_executions_and_bad_input_name_the_field(people: People) -> None:
    missing = await people["op"].get("/api/v1/executions/exec-that-never-was")
    assert missing.status_code == 404
    no_plan = await people["op"].post("/api/v1/executions", json={"plan": "no such plan"})
    assert no_plan.status_code in (400, 404, 422) and no_plan.json()["reason"]
    naive = await people["op"].get("/api/v1/executions", params={"since": "2026-12-01T00:00:00"})
    assert naive.status_code == 400 and naive.json()["path"] == "since"
    cancel_missing = await people["op"].post("/api/v1/executions/exec-nope/cancel")
    assert cancel_missing.status_code == 404


async def test_cancel_records_who_asked(
    people: People, time_skipping_env: WorkflowEnvironment
) -> None:
    execution = await people.start("op")
    await people.node(execution, "1", "WAITING_CONFIRMATION")
    answer = await people["op"].post(f"/api/v1/executions/{execution}/cancel")
    assert answer.status_code == 202, answer.text
    await people.until(execution, lambda v: v["state"] == "CANCELLED", "the cancel")
    history = await time_skipping_env.client.get_workflow_handle(execution).fetch_history()
    reasons = [
        e.workflow_execution_cancel_requested_event_attributes.cause
        for e in history.events
        if e.HasField("workflow_execution_cancel_requested_event_attributes")
    ]
    assert reasons and reasons[0].startswith("cancelled by op (api-token ")
