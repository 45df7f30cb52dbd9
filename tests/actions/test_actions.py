"""Every action's handler against the simulator over HTTP: a happy path and a failure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from activities.actions import HANDLERS, IN_WORKFLOW, ActionContext, handler_for
from catalog.actions import ACTIONS
from platforms.errors import PlatformError
from tests.conftest import SIMULATOR_TOKEN


class Sim:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()

    def fault(self, endpoint: str, **fault: Any) -> None:
        httpx.put(f"{self.url}/admin/faults/{endpoint}", json=fault).raise_for_status()

    def calls(self, endpoint: str) -> int:
        return int(httpx.get(f"{self.url}/admin/calls/{endpoint}").json()["calls"])


@pytest.fixture
def sim(engine_db: str, simulator_url: str) -> Sim:
    return Sim(simulator_url)


@pytest.fixture
def ctx(engine_db: str) -> ActionContext:
    return ActionContext(engine_db, "exec-test", "1")


async def run(code: str, params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    return await handler_for(code)(params, ctx)


def test_every_action_has_a_handler_or_runs_in_the_workflow() -> None:
    assert {a.code for a in ACTIONS} == set(HANDLERS) | IN_WORKFLOW


async def test_product_offline_then_online(sim: Sim, ctx: ActionContext) -> None:
    params = {"product_code": "LOAN-QUICK", "reason": "loan API overloaded"}
    assert await run("PRODUCT_OFFLINE", params, ctx) == {
        "product": "LOAN-QUICK",
        "status": "OFFLINE",
        "previous": "ONLINE",
    }
    assert sim.get("/product/v1/products/LOAN-QUICK")["status"] == "OFFLINE"
    assert (await run("PRODUCT_ONLINE", params, ctx))["status"] == "ONLINE"
    with pytest.raises(PlatformError, match="product NOPE does not exist") as error:
        await run("PRODUCT_OFFLINE", {**params, "product_code": "NOPE"}, ctx)
    assert not error.value.retryable


async def test_gateway_operation(sim: Sim, ctx: ActionContext) -> None:
    params = {
        "gateway_group": "public-gw",
        "api_path": "/loan/apply",
        "operation": "THROTTLE",
        "settings": [{"key": "qps", "value": "50"}],
    }
    result = await run("GW_OP_CONFIG", params, ctx)
    assert (result["operation"], result["previous"], result["settings"]) == (
        "THROTTLE",
        "ONLINE",
        {"qps": "50"},
    )
    assert sim.get("/gw/v1/groups/public-gw/apis")["apis"]["/loan/apply"]["operation"] == "THROTTLE"
    with pytest.raises(PlatformError, match="/nope is not published on public-gw"):
        await run("GW_OP_CONFIG", {**params, "api_path": "/nope"}, ctx)


async def test_iam_degrade_and_restore(sim: Sim, ctx: ActionContext) -> None:
    degraded = await run(
        "IAM_DEGRADE",
        {"mode": "LOCAL_TOKEN_CACHE", "reason": "IAM db slow", "max_minutes": 30},
        ctx,
    )
    assert (degraded["mode"], degraded["previous"]) == ("LOCAL_TOKEN_CACHE", "NORMAL")
    assert degraded["until"] is not None
    assert sim.get("/iam/v1/mode")["mode"] == "LOCAL_TOKEN_CACHE"
    restored = await run("IAM_RESTORE", {"reason": "IAM db recovered"}, ctx)
    assert (restored["mode"], restored["previous"]) == ("NORMAL", "LOCAL_TOKEN_CACHE")
    sim.fault("iam.mode", status=503, count=-1, message="IAM maintenance")
    with pytest.raises(PlatformError, match="HTTP 503: IAM maintenance") as error:
        await run("IAM_RESTORE", {"reason": "again"}, ctx)
    assert error.value.retryable
    assert sim.calls("iam.mode") == 2 + 3  # an idempotent PUT: tried three times


@pytest.mark.parametrize(
    ("apply", "lift", "kind", "params"),
    [
        (
            "CIRCUIT_BREAK_APPLY",
            "CIRCUIT_BREAK_LIFT",
            "circuit-break",
            {"error_ratio": 0.3, "open_seconds": 60},
        ),
        ("RATE_LIMIT_APPLY", "RATE_LIMIT_LIFT", "rate-limit", {"qps": 200}),
        ("DEGRADE_APPLY", "DEGRADE_RESTORE", "degrade", {"strategy": "FAIL_FAST"}),
    ],
)
async def test_middleware_rule_applied_listed_and_lifted(
    sim: Sim, ctx: ActionContext, apply: str, lift: str, kind: str, params: dict[str, Any]
) -> None:
    target = {"service": "loan-service", "resource": "LoanApi.apply"}
    result = await run(apply, {**target, **params}, ctx)
    assert result["rule"] == {
        "kind": kind,
        "resource": "LoanApi.apply",
        **params,
        "replaced": False,
    }
    assert sim.get("/mw/v1/services/loan-service/rules")["rules"] == [
        {"kind": kind, "resource": "LoanApi.apply", **params}
    ]
    assert (await run(lift, target, ctx))["removed"] is True
    again = await run(lift, target, ctx)  # lifting twice is reported, not an error
    assert (again["removed"], again["note"]) == (False, "no such rule: nothing to remove")
    with pytest.raises(PlatformError, match="service ghost is not registered"):
        await run(apply, {**target, **params, "service": "ghost"}, ctx)


async def test_instance_restart_honours_the_filter_and_empty_means_all(
    sim: Sim, ctx: ActionContext
) -> None:
    everyone = await run("CONTAINER_INSTANCE_RESTART", {"app": "loan-api"}, ctx)
    assert [i["instance"] for i in everyone["instances"]] == [
        "loan-api-1",
        "loan-api-2",
        "loan-api-3",
    ]
    assert "every RUNNING instance of loan-api (3)" in everyone["note"]
    statuses = {
        i["name"]: i["status"] for i in sim.get("/dap/v1/apps/loan-api/instances")["instances"]
    }
    assert statuses == {
        "loan-api-1": "Pending",
        "loan-api-2": "Pending",
        "loan-api-3": "Pending",
        "loan-api-4": "Failed",
    }
    with pytest.raises(PlatformError, match="loan-api-4 is Failed; this action takes RUNNING"):
        await run(
            "CONTAINER_INSTANCE_RESTART",
            {"app": "loan-api", "instance": "loan-api-4"},
            ActionContext(ctx.database_url, "exec-test", "2"),
        )


async def test_instance_restart_is_not_repeated_for_the_same_node_run(
    sim: Sim, ctx: ActionContext
) -> None:
    params = {"app": "core-banking-a", "instance": "core-banking-a-1"}
    first = await run("CONTAINER_INSTANCE_RESTART", params, ctx)
    # A retried attempt resumes from what the first one heartbeated.
    retried = ActionContext(ctx.database_url, "exec-test", "1", resumed=ctx.details)
    again = await run("CONTAINER_INSTANCE_RESTART", params, retried)
    assert (
        first["instances"]
        == again["instances"]
        == [{"instance": "core-banking-a-1", "status": "Pending", "restarts": 1}]
    )


async def test_rebuild_takes_instances_that_are_not_running(sim: Sim, ctx: ActionContext) -> None:
    result = await run(
        "CONTAINER_INSTANCE_REBUILD", {"app": "payment-gateway", "instance": ""}, ctx
    )
    assert [i["instance"] for i in result["instances"]] == [
        "payment-gateway-2",
        "payment-gateway-3",
    ]
    with pytest.raises(PlatformError, match="application ghost does not exist"):
        await run("CONTAINER_INSTANCE_REBUILD", {"app": "ghost"}, ctx)


async def test_diagnose_takes_every_instance(sim: Sim, ctx: ActionContext) -> None:
    result = await run("CONTAINER_INSTANCE_DIAGNOSE", {"app": "payment-gateway"}, ctx)
    assert [i["status"] for i in result["instances"]] == ["Running", "Stopped", "Failed"]
    assert all(i["thread_dump"] and i["recent_logs"] for i in result["instances"])
    sim.fault("dap.diagnose", status=500, count=5, message="agent unreachable")
    with pytest.raises(PlatformError, match="HTTP 500: agent unreachable") as error:
        await run(
            "CONTAINER_INSTANCE_DIAGNOSE",
            {"app": "payment-gateway"},
            ActionContext(ctx.database_url, "exec-test", "3"),
        )
    assert error.value.retryable


async def test_scale_out_creates_one_order_confirms_every_batch_and_waits(
    sim: Sim, ctx: ActionContext
) -> None:
    result = await run("APP_SCALE_OUT", {"app": "loan-api", "pods": 3, "batch_size": 2}, ctx)
    assert (result["kind"], result["pods"], result["batches"], result["confirmed"]) == (
        "SCALE_OUT",
        3,
        2,
        2,
    )
    assert result["polls"] >= 3  # each batch and the finish are slow to show
    orders = sim.get("/dap/v1/release-orders", app="loan-api")["orders"]
    assert [(o["id"], o["state"]) for o in orders] == [(result["order"], "SUCCEEDED")]
    pods = sim.get("/dap/v1/apps/loan-api/instances")["instances"]
    assert [p["status"] for p in pods].count("Running") == 3 + 3


async def test_scale_in_removes_pods(sim: Sim, ctx: ActionContext) -> None:
    result = await run("APP_SCALE_IN", {"app": "loan-api", "pods": 2}, ctx)
    assert (result["kind"], result["batches"]) == ("SCALE_IN", 2)
    names = [p["name"] for p in sim.get("/dap/v1/apps/loan-api/instances")["instances"]]
    assert names == ["loan-api-1", "loan-api-4"]
    with pytest.raises(PlatformError, match="cannot remove 5") as error:
        await run(
            "APP_SCALE_IN",
            {"app": "loan-api", "pods": 5},
            ActionContext(ctx.database_url, "exec-test", "2"),
        )
    assert not error.value.retryable


async def test_scale_out_fails_with_the_platforms_message_when_a_pod_fails(
    sim: Sim, ctx: ActionContext
) -> None:
    sim.fault("dap.pod_start", count=1, message="ImagePullBackOff")
    with pytest.raises(
        PlatformError, match="FAILED: pod loan-api-5 failed to start: ImagePullBackOff"
    ) as error:
        await run("APP_SCALE_OUT", {"app": "loan-api", "pods": 1}, ctx)
    assert not error.value.retryable


async def test_a_permanent_error_on_create_is_not_retried(sim: Sim, ctx: ActionContext) -> None:
    sim.fault(
        "dap.create_order",
        status=409,
        count=-1,
        retryable=False,
        message="application frozen by change control",
    )
    with pytest.raises(PlatformError, match="application frozen by change control") as error:
        await run("APP_SCALE_OUT", {"app": "loan-api", "pods": 1}, ctx)
    assert not error.value.retryable
    assert sim.calls("dap.create_order") == 1


async def test_platform_says_retryable_even_on_a_4xx(sim: Sim, ctx: ActionContext) -> None:
    sim.fault("product.status", status=423, count=-1, retryable=True, message="locked, try later")
    with pytest.raises(PlatformError, match="locked, try later") as error:
        await run("PRODUCT_OFFLINE", {"product_code": "LOAN-QUICK", "reason": "test"}, ctx)
    assert error.value.retryable


async def test_wrong_credentials_are_a_permanent_error(
    engine_db: str, sim: Sim, ctx: ActionContext
) -> None:
    from sqlalchemy import update

    from storage.db import session_factory
    from storage.models import SystemConfig

    with session_factory(engine_db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "platform.iam.token")
            .values(value={"value": "env:NIGHTWATCH_TEST_IAM_TOKEN"})
        )
        session.commit()
    with pytest.raises(
        PlatformError, match=r"environment variable NIGHTWATCH_TEST_IAM_TOKEN is not set"
    ):
        await run("IAM_RESTORE", {"reason": "test"}, ctx)
    import os

    os.environ["NIGHTWATCH_TEST_IAM_TOKEN"] = "not-the-token"
    try:
        with pytest.raises(PlatformError, match="HTTP 401: missing or wrong credentials") as error:
            await run("IAM_RESTORE", {"reason": "test"}, ctx)
        assert not error.value.retryable
        os.environ["NIGHTWATCH_TEST_IAM_TOKEN"] = SIMULATOR_TOKEN
        assert (await run("IAM_RESTORE", {"reason": "test"}, ctx))["mode"] == "NORMAL"
    finally:
        del os.environ["NIGHTWATCH_TEST_IAM_TOKEN"]


async def test_an_unset_platform_is_a_permanent_error_naming_the_key(
    engine_db: str, ctx: ActionContext
) -> None:
    from sqlalchemy import update

    from storage.db import session_factory
    from storage.models import SystemConfig

    with session_factory(engine_db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "platform.gateway.base_url")
            .values(value=None)
        )
        session.commit()
    with pytest.raises(PlatformError, match=r"platform\.gateway\.base_url: system config not set"):
        await run(
            "GW_OP_CONFIG", {"gateway_group": "g", "api_path": "/a", "operation": "ONLINE"}, ctx
        )


async def test_a_slow_platform_times_out_as_a_temporary_error(
    engine_db: str, sim: Sim, ctx: ActionContext
) -> None:
    from sqlalchemy import update

    from storage.db import session_factory
    from storage.models import SystemConfig

    with session_factory(engine_db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "platform.http_timeout_seconds")
            .values(value={"value": 1})
        )
        session.commit()
    sim.fault("product.status", delay_seconds=1.5)
    with pytest.raises(PlatformError, match="product platform: unreachable: ReadTimeout") as error:
        await run("PRODUCT_ONLINE", {"product_code": "LOAN-QUICK", "reason": "slow"}, ctx)
    assert error.value.retryable
    assert sim.calls("product.status") == 3  # an idempotent PUT: tried three times
