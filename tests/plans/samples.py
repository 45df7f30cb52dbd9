"""Valid parameters for every action, and builders of plan documents for tests."""

from __future__ import annotations

from typing import Any

from plans.model import PlanDocument

SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "PRODUCT_OFFLINE": {"product_code": "LOAN01", "reason": "fraud wave"},
    "PRODUCT_ONLINE": {"product_code": "LOAN01", "reason": "fixed"},
    "GW_OP_CONFIG": {
        "gateway_group": "public",
        "api_path": "/loan/apply",
        "operation": "THROTTLE",
        "settings": [{"key": "qps", "value": "100"}],
    },
    "APP_SCALE_OUT": {"app": "loan-api", "pods": 4},
    "APP_SCALE_IN": {"app": "loan-api", "pods": 2},
    "CONTAINER_INSTANCE_RESTART": {"app": "loan-api", "instance": "loan-api-1"},
    "CONTAINER_INSTANCE_REBUILD": {"app": "loan-api"},
    "CONTAINER_INSTANCE_DIAGNOSE": {"app": "loan-api"},
    "CIRCUIT_BREAK_APPLY": {"service": "loan", "resource": "/score"},
    "CIRCUIT_BREAK_LIFT": {"service": "loan", "resource": "/score"},
    "RATE_LIMIT_APPLY": {"service": "loan", "resource": "/apply", "qps": 50},
    "RATE_LIMIT_LIFT": {"service": "loan", "resource": "/apply"},
    "DEGRADE_APPLY": {"service": "loan", "resource": "/score", "strategy": "FAIL_FAST"},
    "DEGRADE_RESTORE": {"service": "loan", "resource": "/score"},
    "IAM_DEGRADE": {"mode": "READ_ONLY", "reason": "IAM database failover"},
    "IAM_RESTORE": {"reason": "failover done"},
    "HTTP_CALL": {"method": "POST", "url": "https://ops.bank/hooks/x", "body": "{}"},
    "NOTIFY": {"channel": "ops", "message": "hello"},
    "WAIT": {"seconds": 30},
    "CHECKPOINT": {"note": "look at the dashboard"},
    "MANUAL_STEP": {"instructions": "check the dashboard", "assignee": "li.wei"},
}


def step(action: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name or action.lower(),
        "action": action,
        "params": SAMPLE_PARAMS[action],
        **extra,
    }


def emergency(name: str = "overload", steps: list[dict[str, Any]] | None = None) -> PlanDocument:
    return PlanDocument.model_validate(
        {
            "name": name,
            "scene": "EMERGENCY",
            "steps": steps or [step("RATE_LIMIT_APPLY"), step("APP_SCALE_OUT")],
        }
    )


def recovery(
    name: str = "dc switch",
    sub_types: tuple[str, ...] = ("DISASTER_SWITCH", "DISASTER_RECOVERY", "TRAFFIC_BACK"),
    steps_each: int = 2,
) -> PlanDocument:
    actions = ["GW_OP_CONFIG", "IAM_DEGRADE", "APP_SCALE_OUT", "WAIT"]
    return PlanDocument.model_validate(
        {
            "name": name,
            "scene": "RECOVERY",
            "group_id": "grp-1",
            "layer": "APPLICATION",
            "sub_plans": [
                {
                    "type": t,
                    "steps": [step(actions[i % 4], f"{t} step {i}") for i in range(steps_each)],
                }
                for t in sub_types
            ],
        }
    )
