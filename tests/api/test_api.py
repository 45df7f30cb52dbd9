"""The plan API over HTTP: CRUD, validation with the CLI's paths, catalog and options."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from catalog.options import OptionsError, resolve_instances
from catalog.params import InstanceFilter
from platforms.dap import DapClient
from platforms.http import Endpoint
from tests.conftest import SIMULATOR_TOKEN
from tests.plans.samples import emergency, step

OPENAPI_SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"


def _doc(**overrides: object) -> dict[str, object]:
    return {**emergency(name="api plan").model_dump(mode="json"), **overrides}


def test_plan_crud_round_trip(api: httpx.Client) -> None:
    created = api.post("/api/v1/plans", json=_doc(), headers={"X-Nightwatch-User": "li.wei"})
    assert created.status_code == 201, created.text
    plan = created.json()
    assert (plan["outcome"], plan["version"]) == ("created", 1)
    read = api.get(f"/api/v1/plans/{plan['id']}")
    stored = read.json()
    assert stored["document"]["name"] == "api plan" and read.headers["etag"] == '"1"'
    at_1 = {"If-Match": read.headers["etag"]}
    again = api.put(f"/api/v1/plans/{plan['id']}", json=stored["document"], headers=at_1).json()
    assert again["outcome"] == "unchanged"
    changed = {**stored["document"], "steps": [step("WAIT")]}
    assert api.put(f"/api/v1/plans/{plan['id']}", json=changed, headers=at_1).json()["version"] == 2
    assert [p["name"] for p in api.get("/api/v1/plans").json()] == ["api plan"]
    yaml_text = api.get(f"/api/v1/plans/{plan['id']}/file").text
    assert "action: WAIT" in yaml_text
    assert api.delete(f"/api/v1/plans/{plan['id']}").status_code == 204
    missing = api.get(f"/api/v1/plans/{plan['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "PlanNotFound"


def test_invalid_plan_gets_every_problem_with_the_cli_paths(api: httpx.Client) -> None:
    bad = _doc(
        steps=[
            step("WAIT") | {"action": "TELEPORT"},
            step("APP_SCALE_OUT") | {"params": {"app": "x", "pods": 0}},
        ]
    )
    response = api.post("/api/v1/plans", json=bad)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "PlanInvalid"
    assert {p["path"] for p in body["problems"]} == {"steps[1].action", "steps[2].params.pods"}
    assert api.get("/api/v1/plans").json() == []


def test_malformed_body_names_the_field(api: httpx.Client) -> None:
    response = api.post("/api/v1/plans", json={"name": "x", "steps": [{"name": "a"}]})
    assert response.status_code == 422
    paths = {p["path"] for p in response.json()["problems"]}
    assert {"scene", "steps[1].action"} <= paths
    not_json = api.post(
        "/api/v1/plans", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


def test_an_update_says_which_version_it_changes(api: httpx.Client) -> None:
    plan = api.post("/api/v1/plans", json=_doc()).json()
    url = f"/api/v1/plans/{plan['id']}"
    first = {**_doc(), "description": "first editor"}
    second = {**_doc(), "description": "second editor"}
    missing = api.put(url, json=first)
    assert (missing.status_code, missing.json()["path"]) == (428, "If-Match")
    assert api.put(url, json=first, headers={"If-Match": '"1"'}).json()["version"] == 2
    stale = api.put(url, json=second, headers={"If-Match": '"1"'})  # read before the first
    assert stale.status_code == 409 and "at version 2, not 1" in stale.json()["reason"]
    assert api.get(url).json()["document"]["description"] == "first editor"
    bad = api.put(url, json=second, headers={"If-Match": "latest"})
    assert (bad.status_code, bad.json()["path"]) == (400, "If-Match")


def test_concurrent_creations_of_one_name_create_one_and_conflict_the_rest(
    api: httpx.Client,
) -> None:
    async def create_twenty() -> list[int]:
        async with httpx.AsyncClient(
            base_url=api.base_url, timeout=60, headers=api.headers
        ) as http:
            answers = await asyncio.gather(
                *[
                    http.post("/api/v1/plans", json={**_doc(), "description": f"editor {i}"})
                    for i in range(20)
                ]
            )
        return sorted(a.status_code for a in answers)

    assert asyncio.run(create_twenty()) == [201] + [409] * 19
    [plan] = api.get("/api/v1/plans").json()
    assert plan["version"] == 1


def test_same_name_twice_is_a_conflict(api: httpx.Client) -> None:
    assert api.post("/api/v1/plans", json=_doc()).status_code == 201
    conflict = api.post("/api/v1/plans", json=_doc())
    assert conflict.status_code == 409
    assert conflict.json()["path"] == "api plan"


def test_validate_endpoint_writes_nothing(api: httpx.Client) -> None:
    assert api.post("/api/v1/plans/validate", json=_doc()).json() == {
        "valid": True,
        "name": "api plan",
    }
    bad = api.post("/api/v1/plans/validate", json=_doc(scene="RECOVERY"))
    assert bad.status_code == 422
    assert {p["path"] for p in bad.json()["problems"]} >= {"steps", "sub_plans"}
    assert api.get("/api/v1/plans").json() == []


def test_catalog_endpoints(api: httpx.Client) -> None:
    actions = {a["code"]: a for a in api.get("/api/v1/actions").json()}
    assert actions["APP_SCALE_OUT"]["user_visible"] is True
    scale = api.get("/api/v1/actions/APP_SCALE_OUT").json()
    assert [p["name"] for p in scale["params"]] == ["app", "pods", "batch_size"]
    assert api.get("/api/v1/actions/NOPE").status_code == 404


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("CONTAINER_INSTANCE_RESTART", {"loan-api-1", "loan-api-2", "loan-api-3"}),
        ("CONTAINER_INSTANCE_REBUILD", {"loan-api-4"}),
        ("CONTAINER_INSTANCE_DIAGNOSE", {"loan-api-1", "loan-api-2", "loan-api-3", "loan-api-4"}),
    ],
)
def test_instance_options_come_from_the_platform_filtered(
    api: httpx.Client, action: str, expected: set[str]
) -> None:
    response = api.get(
        f"/api/v1/actions/{action}/params/instance/options", params={"app": "loan-api"}
    )
    assert response.status_code == 200, response.text
    assert {o["value"] for o in response.json()["options"]} == expected


def test_options_errors_are_clear(api: httpx.Client) -> None:
    no_app = api.get("/api/v1/actions/CONTAINER_INSTANCE_RESTART/params/instance/options")
    assert (no_app.status_code, no_app.json()["path"]) == (422, "app")
    unknown = api.get(
        "/api/v1/actions/CONTAINER_INSTANCE_RESTART/params/instance/options",
        params={"app": "ghost"},
    )
    assert unknown.status_code == 502
    assert "application ghost does not exist" in unknown.json()["reason"]
    channels = api.get("/api/v1/actions/NOTIFY/params/channel/options").json()
    assert [o["value"] for o in channels["options"]] == ["ops"]


async def test_empty_instance_means_every_instance_under_the_same_filter(
    simulator_url: str,
) -> None:
    async with DapClient(Endpoint(simulator_url, token=SIMULATOR_TOKEN)) as client:
        await _resolve_under_filters(client)


async def _resolve_under_filters(client: DapClient) -> None:
    running = await resolve_instances(client, "payment-gateway", None, InstanceFilter.RUNNING)
    stopped = await resolve_instances(client, "payment-gateway", "", InstanceFilter.NOT_RUNNING)
    everyone = await resolve_instances(client, "payment-gateway", None, InstanceFilter.ALL)
    assert running == ["payment-gateway-1"]
    assert stopped == ["payment-gateway-2", "payment-gateway-3"]
    assert len(everyone) == 3
    assert await resolve_instances(
        client, "payment-gateway", "payment-gateway-2", InstanceFilter.NOT_RUNNING
    ) == ["payment-gateway-2"]
    with pytest.raises(OptionsError, match="is Failed; this action takes RUNNING"):
        await resolve_instances(
            client, "payment-gateway", "payment-gateway-3", InstanceFilter.RUNNING
        )


def test_openapi_document_is_served_and_matches_the_committed_one(api: httpx.Client) -> None:
    served = api.get("/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert document["openapi"].startswith("3.")
    assert {
        "/api/v1/plans",
        "/api/v1/plans/{plan_id}",
        "/api/v1/plans/validate",
        "/api/v1/actions/{code}/params/{name}/options",
    } <= set(document["paths"])
    assert "PlanDocument" in document["components"]["schemas"]
    committed = json.loads(OPENAPI_SNAPSHOT.read_text())
    assert document == committed, (
        "the API changed: check it stays backward compatible, then regenerate with "
        "`nightwatch api --openapi > docs/openapi.json`"
    )


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000, b"[" * 65 + b"]" * 65])
def test_json_nested_too_deep_is_refused_in_the_error_shape(api: httpx.Client, body: bytes) -> None:
    answer = api.post("/api/v1/plans", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "error": "InvalidJSON",
        "path": "(body)",
        "problems": [],
        "reason": "JSON nested deeper than 64 levels",
    }
    assert api.get("/api/v1/plans").json() == []


def test_errors_fastapi_raises_itself_use_the_error_shape(api: httpx.Client) -> None:
    for answer, status in [
        (api.get("/api/v1/nothing-here"), 404),
        (api.patch("/api/v1/plans"), 405),
    ]:
        assert answer.status_code == status
        assert set(answer.json()) == {"error", "path", "reason", "problems"}, answer.text


def test_the_docs_page_loads_nothing_from_outside(api: httpx.Client) -> None:
    page = api.get("/docs").text
    scripts = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert scripts and all(url.startswith("/") for url in scripts), scripts
    for url in scripts:
        assert api.get(url).status_code == 200, url
