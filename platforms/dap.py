"""The distributed-architecture platform: applications, container instances, release orders.

A scale-out or scale-in is a release order: created (once per idempotency key), executed,
then it stops after each batch of pods until someone confirms the batch, and its state is
slow to update. `activities/scale.py` drives one through to the end.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from platforms.http import PlatformClient

InstanceStatus = Literal["Running", "Pending", "Failed", "Stopped", "Terminating"]
OrderKind = Literal["SCALE_OUT", "SCALE_IN"]
OrderState = Literal[
    "CREATED", "RUNNING", "WAITING_CONFIRMATION", "SUCCEEDED", "FAILED", "CANCELLED"
]
ORDER_ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class Instance(BaseModel):
    name: str
    status: InstanceStatus
    node: str | None = None


class InstanceList(BaseModel):
    app: str
    instances: list[Instance]


class ReleaseOrder(BaseModel):
    id: str
    app: str
    kind: OrderKind
    pods: int
    batch_size: int
    batches: int
    state: OrderState
    batch: int  # the batch being released or waiting for confirmation (1-based; 0: none yet)
    confirmed: int  # batches confirmed so far
    message: str | None = None
    updated_at: float | None = None  # epoch seconds of the order's last change

    @property
    def ended(self) -> bool:
        return self.state in ORDER_ENDED


class DapClient(PlatformClient):
    title = "distributed-architecture platform"

    async def instances(self, app: str) -> list[Instance]:
        body = await self.call("GET", f"/dap/v1/apps/{app}/instances")
        return InstanceList.model_validate(body).instances

    async def instance_action(
        self, app: str, instance: str, action: Literal["restart", "rebuild", "diagnose"], key: str
    ) -> dict[str, object]:
        body = await self.call(
            "POST", f"/dap/v1/apps/{app}/instances/{instance}/{action}", idempotency_key=key
        )
        return dict(body or {})

    async def create_order(
        self, app: str, kind: OrderKind, pods: int, batch_size: int, key: str
    ) -> ReleaseOrder:
        """Create the order, or get the one this key created before (never a second)."""
        body = await self.call(
            "POST",
            "/dap/v1/release-orders",
            json={"app": app, "kind": kind, "pods": pods, "batch_size": batch_size},
            idempotency_key=key,
        )
        return ReleaseOrder.model_validate(body)

    async def orders(self, app: str | None = None) -> list[ReleaseOrder]:
        body = await self.call(
            "GET", "/dap/v1/release-orders", params={"app": app} if app else None
        )
        return [ReleaseOrder.model_validate(item) for item in body["orders"]]

    async def apps(self) -> list[str]:
        return [str(name) for name in (await self.call("GET", "/dap/v1/apps"))["apps"]]

    async def order(self, order_id: str) -> ReleaseOrder:
        return ReleaseOrder.model_validate(
            await self.call("GET", f"/dap/v1/release-orders/{order_id}")
        )

    async def execute_order(self, order_id: str) -> ReleaseOrder:
        body = await self.call("POST", f"/dap/v1/release-orders/{order_id}/execute")
        return ReleaseOrder.model_validate(body)

    async def confirm_batch(self, order_id: str, batch: int) -> ReleaseOrder:
        body = await self.call("POST", f"/dap/v1/release-orders/{order_id}/batches/{batch}/confirm")
        return ReleaseOrder.model_validate(body)
