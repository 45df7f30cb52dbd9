"""The middleware console, the API gateway, IAM and the product platform."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends

from simulator.http import (
    GatewayRequest,
    IamRequest,
    ProductRequest,
    RuleRequest,
    WorldDep,
    behave,
    platform,
)
from simulator.state import SimError, World

router = APIRouter(dependencies=[Depends(platform)])


def rules_of(world: World, service: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = world.rules.get(service)
    if found is None:
        raise SimError(404, f"service {service} is not registered", retryable=False)
    return found


@router.get("/mw/v1/services/{service}/rules")
async def list_rules(world: WorldDep, service: str) -> dict[str, Any]:
    await behave(world, "mw.rules")
    return {"service": service, "rules": list(rules_of(world, service).values())}


@router.put("/mw/v1/services/{service}/rules/{kind}")
async def put_rule(
    world: WorldDep,
    service: str,
    kind: Literal["circuit-break", "rate-limit", "degrade"],
    rule: RuleRequest,
) -> dict[str, Any]:
    await behave(world, "mw.put_rule")
    rules = rules_of(world, service)
    previous = rules.get((kind, rule.resource))
    stored = {"kind": kind, **rule.model_dump()}
    rules[(kind, rule.resource)] = stored
    return {**stored, "replaced": previous is not None}


@router.delete("/mw/v1/services/{service}/rules/{kind}")
async def delete_rule(
    world: WorldDep,
    service: str,
    kind: Literal["circuit-break", "rate-limit", "degrade"],
    resource: str,
) -> dict[str, Any]:
    await behave(world, "mw.delete_rule")
    removed = rules_of(world, service).pop((kind, resource), None)
    if removed is None:
        raise SimError(404, f"no {kind} rule on {service} {resource}", retryable=False)
    return {"removed": removed}


# -- gateway, IAM, products -----------------------------------------------------------


@router.put("/gw/v1/groups/{group}/api-operation")
async def gateway_operation(world: WorldDep, group: str, spec: GatewayRequest) -> dict[str, Any]:
    await behave(world, "gw.operation")
    apis = world.gateway.get(group)
    if apis is None:
        raise SimError(404, f"gateway group {group} does not exist", retryable=False)
    current = apis.get(spec.api_path)
    if current is None:
        raise SimError(404, f"{spec.api_path} is not published on {group}", retryable=False)
    previous = current["operation"]
    current.update(operation=spec.operation, settings=spec.settings)
    return {"api_path": spec.api_path, **current, "previous": previous}


@router.get("/gw/v1/groups/{group}/apis")
async def gateway_apis(world: WorldDep, group: str) -> dict[str, Any]:
    apis = world.gateway.get(group)
    if apis is None:
        raise SimError(404, f"gateway group {group} does not exist", retryable=False)
    return {"group": group, "apis": apis}


@router.get("/iam/v1/mode")
async def iam_mode(world: WorldDep) -> dict[str, Any]:
    since = world.iam.get("since")
    return {**world.iam, "since": since - world.aged if since is not None else None}


@router.put("/iam/v1/mode")
async def set_iam_mode(world: WorldDep, spec: IamRequest) -> dict[str, Any]:
    await behave(world, "iam.mode")
    previous = world.iam["mode"]
    until = time.time() + spec.max_minutes * 60 if spec.max_minutes else None
    now = time.time()
    world.iam = {"mode": spec.mode, "reason": spec.reason, "until": until, "since": now}
    return {**world.iam, "previous": previous}


@router.get("/product/v1/products/{code}")
async def product(world: WorldDep, code: str) -> dict[str, Any]:
    status = world.products.get(code)
    if status is None:
        raise SimError(404, f"product {code} does not exist", retryable=False)
    return {"product": code, "status": status}


@router.put("/product/v1/products/{code}/status")
async def set_product_status(world: WorldDep, code: str, spec: ProductRequest) -> dict[str, Any]:
    await behave(world, "product.status")
    products = world.products
    if code not in products:
        raise SimError(404, f"product {code} does not exist", retryable=False)
    previous, products[code] = products[code], spec.status
    return {"product": code, "status": spec.status, "previous": previous}
