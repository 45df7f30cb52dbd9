"""The distributed-architecture platform: applications, container instances (restart,
rebuild, diagnose) and release orders confirmed batch by batch."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from simulator.http import IdempotencyKey, NumbersDep, OrderRequest, WorldDep, behave, platform
from simulator.state import Order, SimError, World

router = APIRouter(dependencies=[Depends(platform)])


def instances_of(world: World, name: str) -> list[Any]:
    found = world.apps.get(name)
    if found is None:
        raise SimError(404, f"application {name} does not exist", retryable=False)
    return found


@router.get("/dap/v1/apps")
async def list_apps(world: WorldDep) -> dict[str, list[str]]:
    return {"apps": sorted(world.apps)}


@router.get("/dap/v1/apps/{name}/instances")
async def list_instances(world: WorldDep, name: str) -> dict[str, object]:
    await behave(world, "dap.instances")
    return {
        "app": name,
        "instances": [
            {"name": i.name, "status": i.status, "node": i.node} for i in instances_of(world, name)
        ],
    }


@router.post("/dap/v1/apps/{name}/instances/{instance}/{operation}")
async def instance_operation(
    world: WorldDep,
    name: str,
    instance: str,
    operation: Literal["restart", "rebuild", "diagnose"],
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    await behave(world, f"dap.{operation}")
    if key and key in world.answered:
        return world.answered[key]
    pod = next((p for p in instances_of(world, name) if p.name == instance), None)
    if pod is None:
        raise SimError(404, f"{instance} is not an instance of {name}", retryable=False)
    now = time.time()
    if operation == "diagnose":
        answer: dict[str, Any] = {
            "status": pod.status,
            "thread_dump": f'"main" #1 prio=5 RUNNABLE ({pod.name}, {pod.node})',
            "recent_logs": [f"{pod.name}: status {pod.status}", f"{pod.name}: gc pause 12ms"],
        }
    elif operation == "restart":
        if pod.status != "Running":
            raise SimError(
                409,
                f"{instance} is {pod.status}: only a Running instance can be restarted",
                retryable=False,
            )
        pod.status, pod.ready_at, pod.restarts = (
            "Pending",
            now + world.step_seconds,
            pod.restarts + 1,
        )
        answer = {"status": "Pending", "restarts": pod.restarts}
    else:
        if pod.status == "Running":
            raise SimError(
                409,
                f"{instance} is Running: rebuild takes instances that are not running",
                retryable=False,
            )
        answer = {"status": "Pending", "was": pod.status}
        pod.status, pod.ready_at = "Pending", now + world.step_seconds
    if key:
        world.answered[key] = answer
    return answer


def order_of(world: World, order_id: str) -> Order:
    found = world.orders.get(order_id)
    if found is None:
        raise SimError(404, f"no release order {order_id}", retryable=False)
    return found


@router.post("/dap/v1/release-orders", status_code=201)
async def create_order(
    world: WorldDep, numbers: NumbersDep, spec: OrderRequest, key: IdempotencyKey = None
) -> dict[str, Any]:
    await behave(world, "dap.create_order")
    if not key:
        raise SimError(400, "Idempotency-Key header is required", retryable=False)
    existing = next((o for o in world.orders.values() if o.key == key), None)
    if existing is not None:
        return existing.view(world.aged)
    instances = instances_of(world, spec.app)
    busy = [
        o.id
        for o in world.orders.values()
        if o.app == spec.app and o.state in ("CREATED", "RUNNING", "WAITING_CONFIRMATION")
    ]
    if busy:
        raise SimError(
            409, f"{spec.app} has a release order in progress ({busy[0]})", retryable=False
        )
    running = sum(1 for p in instances if p.status == "Running")
    if spec.kind == "SCALE_IN" and spec.pods >= running:
        raise SimError(
            409,
            f"{spec.app} has {running} running pods: cannot remove {spec.pods}",
            retryable=False,
        )
    order = Order(f"RO-{next(numbers):04d}", spec.app, spec.kind, spec.pods, spec.batch_size, key)
    world.orders[order.id] = order
    return order.view(world.aged)


@router.get("/dap/v1/release-orders")
async def list_orders(
    world: WorldDep,
    app_name: Annotated[str | None, Query(alias="app")] = None,
) -> dict[str, Any]:
    orders = [o.view(world.aged) for o in world.orders.values() if app_name in (None, o.app)]
    return {"orders": orders}


@router.get("/dap/v1/release-orders/{order_id}")
async def get_order(world: WorldDep, order_id: str) -> dict[str, Any]:
    await behave(world, "dap.get_order")
    return order_of(world, order_id).view(world.aged)


@router.post("/dap/v1/release-orders/{order_id}/execute")
async def execute_order(world: WorldDep, order_id: str) -> dict[str, Any]:
    await behave(world, "dap.execute_order")
    order = order_of(world, order_id)
    if order.state == "CREATED":
        order.batch = 1
        world.start_batch(order, time.time())
    elif order.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
        raise SimError(409, f"release order {order_id} is {order.state}", retryable=False)
    return order.view(world.aged)  # executing an executing order changes nothing


@router.post("/dap/v1/release-orders/{order_id}/batches/{batch}/confirm")
async def confirm_batch(world: WorldDep, order_id: str, batch: int) -> dict[str, Any]:
    await behave(world, "dap.confirm_batch")
    order = order_of(world, order_id)
    if batch <= order.confirmed:
        return order.view(world.aged)  # confirmed already
    if order.state != "WAITING_CONFIRMATION" or batch != order.batch:
        raise SimError(
            409,
            f"release order {order_id} is {order.state} at batch "
            f"{order.batch}/{order.batches}: batch {batch} cannot be confirmed",
            retryable=False,
        )
    order.confirmed = batch
    now = time.time()
    if batch < order.batches:
        order.batch += 1
        world.start_batch(order, now)
    else:
        order.state, order.phase_started, order.finishing = "RUNNING", now, True
        order.message = "all batches confirmed: finishing"
    return order.view(world.aged)
