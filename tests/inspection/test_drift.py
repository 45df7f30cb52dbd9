"""Drift checks: what a plan last set on the middleware console and the API gateway,
against what the platforms hold now (someone changed it by hand)."""

from __future__ import annotations

from typing import Any

from activities.probes import Observation, ProbeEnv, observe
from catalog.checks import CHECKS_BY_CODE
from tests.conftest import sim
from tests.workflows.conftest import Engine, engine

__all__ = ["engine"]  # the fixture

SET_BY_PLAN = {
    "name": "protect loan apply",
    "scene": "EMERGENCY",
    "steps": [
        {
            "name": "break",
            "action": "CIRCUIT_BREAK_APPLY",
            "params": {
                "service": "loan-service",
                "resource": "/loan/apply",
                "error_ratio": 0.3,
                "open_seconds": 60,
            },
        },
        {
            "name": "throttle",
            "action": "GW_OP_CONFIG",
            "params": {
                "gateway_group": "public-gw",
                "api_path": "/loan/apply",
                "operation": "THROTTLE",
                "settings": [{"key": "qps", "value": "100"}],
            },
        },
    ],
}


async def probe(db: str, kind: str, **params: Any) -> Observation:
    env = ProbeEnv(db)
    try:
        return await observe(kind, CHECKS_BY_CODE[kind].params.model_validate(params), env, "r")
    finally:
        await env.aclose()


async def test_live_rules_and_gateway_config_against_what_the_plan_set(
    engine: Engine, simulator_url: str
) -> None:
    nothing = await probe(engine.db, "rule_drift", service="loan-service", resource="/loan/apply")
    assert nothing.observed["drifted"] is False and "no plan has set" in nothing.evidence

    handle = await engine.start(engine.apply(SET_BY_PLAN))
    view = await handle.result()
    assert view.state == "SUCCEEDED"
    rule = await probe(engine.db, "rule_drift", service="loan-service", resource="/loan/apply")
    gateway = await probe(
        engine.db, "gateway_drift", gateway_group="public-gw", api_path="/loan/apply"
    )
    assert rule.observed["drifted"] is False and rule.observed["set_by"] == handle.id
    assert gateway.observed == {
        "drifted": False,
        "differences": [],
        "operation": "THROTTLE",
        "set_by": handle.id,
        "error": "",
    }

    # Someone changes both by hand.
    await sim(
        simulator_url,
        "PUT",
        "/mw/v1/services/loan-service/rules/circuit-break",
        json={"resource": "/loan/apply", "error_ratio": 0.9, "open_seconds": 60},
    )
    await sim(
        simulator_url,
        "PUT",
        "/gw/v1/groups/public-gw/api-operation",
        json={"api_path": "/loan/apply", "operation": "ONLINE"},
    )
    rule = await probe(engine.db, "rule_drift", service="loan-service", resource="/loan/apply")
    gateway = await probe(
        engine.db, "gateway_drift", gateway_group="public-gw", api_path="/loan/apply"
    )
    assert rule.observed["differences"] == [
        f"circuit-break.error_ratio: {handle.id} set 0.3, now 0.9"
    ]
    assert gateway.observed["drifted"] is True
    assert gateway.observed["differences"][0] == f"operation: {handle.id} set THROTTLE, now ONLINE"
    await sim(
        simulator_url,
        "DELETE",
        "/mw/v1/services/loan-service/rules/circuit-break",
        params={"resource": "/loan/apply"},
    )
    gone = await probe(engine.db, "rule_drift", service="loan-service", resource="/loan/apply")
    assert gone.observed["differences"] == [f"circuit-break: set by {handle.id}, absent now"]
