"""The simulator's HTTP API (FastAPI): the bank's platforms as Nightwatch's actions see them.

Platform endpoints (bearer token required when the simulator has one):
- distributed-architecture platform `/dap/v1/...`: applications, container instances
  (restart / rebuild / diagnose), release orders (create with an Idempotency-Key, execute,
  confirm each batch, query) that move through their states as time passes;
- middleware console `/mw/v1/services/{service}/rules[/{kind}]`;
- API gateway `/gw/v1/groups/{group}/api-operation`;
- IAM `/iam/v1/mode`; product platform `/product/v1/products/{code}/status`.
Development helpers: `/chat/{channel}` (a chat webhook), `/probe/{name}` (for HTTP_CALL),
`/admin/faults/{endpoint}` (latency, 5xx, permanent errors, a stuck order),
`/admin/calls/{endpoint}`, `/admin/settings`, `/admin/reset`, `/healthz`, and `/`: a page
of what is simulated now and the fault switches.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from nightwatch import web
from simulator.index import render
from simulator.state import Fault, Order, SimError, World


class FaultSpec(BaseModel):
    status: int = 503
    count: int = 0
    delay_seconds: float = 0.0
    message: str = "injected fault"
    retryable: bool | None = None
    stuck: bool = False


class SettingsSpec(BaseModel):
    step_seconds: float = Field(gt=0, le=600)


class OrderRequest(BaseModel):
    app: str
    kind: Literal["SCALE_OUT", "SCALE_IN"]
    pods: int = Field(ge=1, le=200)
    batch_size: int = Field(ge=1, le=50)


class RuleRequest(BaseModel, extra="allow"):
    resource: str


class GatewayRequest(BaseModel):
    api_path: str
    operation: Literal["OFFLINE", "ONLINE", "THROTTLE", "MOCK_RESPONSE"]
    settings: dict[str, str] = {}


class IamRequest(BaseModel):
    mode: Literal["NORMAL", "LOCAL_TOKEN_CACHE", "SKIP_RISK_SCORING", "READ_ONLY"]
    reason: str
    max_minutes: int | None = None


class ProductRequest(BaseModel):
    status: Literal["ONLINE", "OFFLINE"]
    reason: str


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def create_app(*, token: str | None = None, step_seconds: float = 2.0) -> FastAPI:
    app = web.app(title="Nightwatch platform simulator", version="2")
    app.state.world = World.seeded(step_seconds)
    numbers = itertools.count(1)

    def world() -> World:
        current: World = app.state.world
        return current

    @app.exception_handler(SimError)
    async def sim_error(_: Request, exc: SimError) -> JSONResponse:
        return JSONResponse({"message": exc.message, "retryable": exc.retryable}, exc.status)

    async def platform(request: Request) -> None:
        """Every platform call: credentials checked, time advanced."""
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given, f"Bearer {token}"):
                raise SimError(401, "missing or wrong credentials", retryable=False)
        world().tick()

    async def behave(name: str) -> None:
        """Apply the endpoint's fault, if any (count the call either way)."""
        fault = world().fault(name)
        if fault is None:
            return
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.count != 0:
            fault.count -= 1 if fault.count > 0 else 0  # a negative count fails forever
            raise SimError(fault.status, fault.message, retryable=fault.retryable)

    api = APIRouter(dependencies=[Depends(platform)])

    # -- distributed-architecture platform ------------------------------------------------

    def instances_of(name: str) -> list[Any]:
        found = world().apps.get(name)
        if found is None:
            raise SimError(404, f"application {name} does not exist", retryable=False)
        return found

    @api.get("/dap/v1/apps")
    async def list_apps() -> dict[str, list[str]]:
        return {"apps": sorted(world().apps)}

    @api.get("/dap/v1/apps/{name}/instances")
    async def list_instances(name: str) -> dict[str, object]:
        await behave("dap.instances")
        return {
            "app": name,
            "instances": [
                {"name": i.name, "status": i.status, "node": i.node} for i in instances_of(name)
            ],
        }

    @api.post("/dap/v1/apps/{name}/instances/{instance}/{operation}")
    async def instance_operation(
        name: str,
        instance: str,
        operation: Literal["restart", "rebuild", "diagnose"],
        key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        await behave(f"dap.{operation}")
        current = world()
        if key and key in current.answered:
            return current.answered[key]
        pod = next((p for p in instances_of(name) if p.name == instance), None)
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
                now + current.step_seconds,
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
            pod.status, pod.ready_at = "Pending", now + current.step_seconds
        if key:
            current.answered[key] = answer
        return answer

    def order_of(order_id: str) -> Order:
        found = world().orders.get(order_id)
        if found is None:
            raise SimError(404, f"no release order {order_id}", retryable=False)
        return found

    @api.post("/dap/v1/release-orders", status_code=201)
    async def create_order(spec: OrderRequest, key: IdempotencyKey = None) -> dict[str, Any]:
        await behave("dap.create_order")
        current = world()
        if not key:
            raise SimError(400, "Idempotency-Key header is required", retryable=False)
        existing = next((o for o in current.orders.values() if o.key == key), None)
        if existing is not None:
            return existing.view()
        instances = instances_of(spec.app)
        busy = [
            o.id
            for o in current.orders.values()
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
        order = Order(
            f"RO-{next(numbers):04d}", spec.app, spec.kind, spec.pods, spec.batch_size, key
        )
        current.orders[order.id] = order
        return order.view()

    @api.get("/dap/v1/release-orders")
    async def list_orders(
        app_name: Annotated[str | None, Query(alias="app")] = None,
    ) -> dict[str, Any]:
        orders = [o.view() for o in world().orders.values() if app_name in (None, o.app)]
        return {"orders": orders}

    @api.get("/dap/v1/release-orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, Any]:
        await behave("dap.get_order")
        return order_of(order_id).view()

    @api.post("/dap/v1/release-orders/{order_id}/execute")
    async def execute_order(order_id: str) -> dict[str, Any]:
        await behave("dap.execute_order")
        order = order_of(order_id)
        if order.state == "CREATED":
            order.batch = 1
            world().start_batch(order, time.time())
        elif order.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            raise SimError(409, f"release order {order_id} is {order.state}", retryable=False)
        return order.view()  # executing an executing order changes nothing

    @api.post("/dap/v1/release-orders/{order_id}/batches/{batch}/confirm")
    async def confirm_batch(order_id: str, batch: int) -> dict[str, Any]:
        await behave("dap.confirm_batch")
        order = order_of(order_id)
        if batch <= order.confirmed:
            return order.view()  # confirmed already
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
            world().start_batch(order, now)
        else:
            order.state, order.phase_started, order.finishing = "RUNNING", now, True
            order.message = "all batches confirmed: finishing"
        return order.view()

    # -- middleware console ---------------------------------------------------------------

    def rules_of(service: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = world().rules.get(service)
        if found is None:
            raise SimError(404, f"service {service} is not registered", retryable=False)
        return found

    @api.get("/mw/v1/services/{service}/rules")
    async def list_rules(service: str) -> dict[str, Any]:
        await behave("mw.rules")
        return {"service": service, "rules": list(rules_of(service).values())}

    @api.put("/mw/v1/services/{service}/rules/{kind}")
    async def put_rule(
        service: str, kind: Literal["circuit-break", "rate-limit", "degrade"], rule: RuleRequest
    ) -> dict[str, Any]:
        await behave("mw.put_rule")
        rules = rules_of(service)
        previous = rules.get((kind, rule.resource))
        stored = {"kind": kind, **rule.model_dump()}
        rules[(kind, rule.resource)] = stored
        return {**stored, "replaced": previous is not None}

    @api.delete("/mw/v1/services/{service}/rules/{kind}")
    async def delete_rule(
        service: str, kind: Literal["circuit-break", "rate-limit", "degrade"], resource: str
    ) -> dict[str, Any]:
        await behave("mw.delete_rule")
        removed = rules_of(service).pop((kind, resource), None)
        if removed is None:
            raise SimError(404, f"no {kind} rule on {service} {resource}", retryable=False)
        return {"removed": removed}

    # -- gateway, IAM, products -----------------------------------------------------------

    @api.put("/gw/v1/groups/{group}/api-operation")
    async def gateway_operation(group: str, spec: GatewayRequest) -> dict[str, Any]:
        await behave("gw.operation")
        apis = world().gateway.get(group)
        if apis is None:
            raise SimError(404, f"gateway group {group} does not exist", retryable=False)
        current = apis.get(spec.api_path)
        if current is None:
            raise SimError(404, f"{spec.api_path} is not published on {group}", retryable=False)
        previous = current["operation"]
        current.update(operation=spec.operation, settings=spec.settings)
        return {"api_path": spec.api_path, **current, "previous": previous}

    @api.get("/gw/v1/groups/{group}/apis")
    async def gateway_apis(group: str) -> dict[str, Any]:
        apis = world().gateway.get(group)
        if apis is None:
            raise SimError(404, f"gateway group {group} does not exist", retryable=False)
        return {"group": group, "apis": apis}

    @api.get("/iam/v1/mode")
    async def iam_mode() -> dict[str, Any]:
        return dict(world().iam)

    @api.put("/iam/v1/mode")
    async def set_iam_mode(spec: IamRequest) -> dict[str, Any]:
        await behave("iam.mode")
        current = world()
        previous = current.iam["mode"]
        until = time.time() + spec.max_minutes * 60 if spec.max_minutes else None
        current.iam = {"mode": spec.mode, "reason": spec.reason, "until": until}
        return {**current.iam, "previous": previous}

    @api.get("/product/v1/products/{code}")
    async def product(code: str) -> dict[str, Any]:
        status = world().products.get(code)
        if status is None:
            raise SimError(404, f"product {code} does not exist", retryable=False)
        return {"product": code, "status": status}

    @api.put("/product/v1/products/{code}/status")
    async def set_product_status(code: str, spec: ProductRequest) -> dict[str, Any]:
        await behave("product.status")
        products = world().products
        if code not in products:
            raise SimError(404, f"product {code} does not exist", retryable=False)
        previous, products[code] = products[code], spec.status
        return {"product": code, "status": spec.status, "previous": previous}

    app.include_router(api)

    # -- development helpers --------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        """What is simulated now, and the fault switches (no token needed to read it)."""
        return render(world(), token_required=token is not None)

    @app.post("/chat/{channel}")
    def receive_chat(channel: str, message: dict[str, object]) -> dict[str, int]:
        """A chat webhook: keeps what NOTIFY steps post, for people and tests to read."""
        messages = world().chat.setdefault(channel, [])
        messages.append(message)
        return {"received": len(messages)}

    @app.get("/chat/{channel}")
    def read_chat(channel: str) -> dict[str, list[dict[str, object]]]:
        return {"messages": world().chat.get(channel, [])}

    @app.api_route("/probe/{name}", methods=["GET", "POST"], include_in_schema=False)
    async def probe(name: str) -> JSONResponse:
        """A generic endpoint for HTTP_CALL steps; behaves as its fault says."""
        try:
            await behave(name)
        except SimError as exc:
            return JSONResponse({"message": exc.message}, status_code=exc.status)
        return JSONResponse({"probe": name, "calls": world().calls.get(name, 0)})

    @app.put("/admin/faults/{name}")
    def set_fault(name: str, spec: FaultSpec) -> dict[str, object]:
        """Make an endpoint misbehave (`dap.create_order`, `dap.get_order`, ...; see docs)."""
        world().faults[name] = Fault(**spec.model_dump())
        return {"fault": name, **spec.model_dump()}

    @app.delete("/admin/faults/{name}")
    def clear_fault(name: str) -> dict[str, object]:
        return {"cleared": world().faults.pop(name, None) is not None}

    @app.get("/admin/calls/{name}")
    def calls(name: str) -> dict[str, int]:
        return {"calls": world().calls.get(name, 0)}

    @app.put("/admin/settings")
    def settings(spec: SettingsSpec) -> dict[str, float]:
        world().step_seconds = spec.step_seconds
        return {"step_seconds": spec.step_seconds}

    @app.post("/admin/reset")
    def reset() -> dict[str, bool]:
        app.state.world = World.seeded(step_seconds)
        return {"reset": True}

    return app
