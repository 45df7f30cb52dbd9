"""The simulator's in-memory world and its state machines.

Time moves lazily: every platform request first advances the world to "now", so release
orders and restarted pods change state as time passes without any background task.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


class SimError(Exception):
    """An answer the platform gives as an error: status, message, and whether to retry."""

    def __init__(self, status: int, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.retryable = retryable if retryable is not None else status >= 500


@dataclass
class SimInstance:
    name: str
    status: str
    node: str
    ready_at: float | None = None  # Pending until then, then Running
    restarts: int = 0


@dataclass
class Fault:
    """How an endpoint misbehaves: fail `count` times with `status` (its `retryable` flag
    as given), be slow by `delay_seconds`, or (release orders) be `stuck`."""

    status: int = 503
    count: int = 0
    delay_seconds: float = 0.0
    message: str = "injected fault"
    retryable: bool | None = None
    stuck: bool = False


@dataclass
class Order:
    id: str
    app: str
    kind: str
    pods: int
    batch_size: int
    key: str
    state: str = "CREATED"
    batch: int = 0
    confirmed: int = 0
    message: str | None = None
    phase_started: float = 0.0
    finishing: bool = False
    created: float = field(default_factory=time.time)
    pods_of_batch: list[str] = field(default_factory=list)

    @property
    def batches(self) -> int:
        return math.ceil(self.pods / self.batch_size)

    def view(self, aged: float = 0.0) -> dict[str, Any]:
        return {
            "updated_at": max(self.created, self.phase_started) - aged,
            "id": self.id,
            "app": self.app,
            "kind": self.kind,
            "pods": self.pods,
            "batch_size": self.batch_size,
            "batches": self.batches,
            "state": self.state,
            "batch": self.batch,
            "confirmed": self.confirmed,
            "message": self.message,
        }


@dataclass
class World:
    step_seconds: float = 2.0
    aged: float = 0.0  # reported times are this much earlier (admin settings: age_seconds)
    apps: dict[str, list[SimInstance]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    rules: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    gateway: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    iam: dict[str, Any] = field(default_factory=lambda: {"mode": "NORMAL", "reason": None})
    products: dict[str, str] = field(default_factory=dict)
    chat: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key

    @classmethod
    def seeded(cls, step_seconds: float = 2.0) -> World:
        def pods(app: str, statuses: list[str]) -> list[SimInstance]:
            return [
                SimInstance(f"{app}-{i}", status, f"node-{(i % 3) + 1}")
                for i, status in enumerate(statuses, 1)
            ]

        apis = ["/loan/apply", "/loan/query", "/pay/transfer", "/account/login", "/ebank/"]
        # The example plans' gateway groups (examples/plans/): every example runs here.
        groups = ("public-gw", "partner-gw", "dc-a-public", "dc-b-public")
        return cls(
            step_seconds=step_seconds,
            apps={
                "loan-api": pods("loan-api", ["Running", "Running", "Running", "Failed"]),
                "payment-gateway": pods("payment-gateway", ["Running", "Stopped", "Failed"]),
                "core-banking-a": pods("core-banking-a", ["Running", "Running"]),
                "core-banking-b": pods("core-banking-b", ["Running", "Pending"]),
            },
            rules={
                service: {}
                for service in (
                    "loan-service",
                    "payment-service",
                    "account-service",
                    "core-banking",
                )
            },
            gateway={
                group: {api: {"operation": "ONLINE", "settings": {}} for api in apis}
                for group in groups
            },
            products={"LOAN-QUICK": "ONLINE", "LOAN-HOUSE": "ONLINE", "DEPOSIT-3M": "ONLINE"},
        )

    # -- faults ----------------------------------------------------------------------------

    def fault(self, name: str) -> Fault | None:
        """Count the call; return the fault to apply now (None: behave)."""
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.faults.get(name)

    def stuck(self) -> bool:
        found = self.faults.get("dap.order_progress")
        return bool(found and found.stuck)

    # -- time ------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for instances in self.apps.values():
            for pod in instances:
                if pod.ready_at is not None and now >= pod.ready_at:
                    pod.status, pod.ready_at = "Running", None
        if self.stuck():
            return
        for order in self.orders.values():
            self._advance(order, now)

    def _advance(self, order: Order, now: float) -> None:
        if order.state != "RUNNING" or now - order.phase_started < self.step_seconds:
            return
        if order.finishing:
            order.state, order.message = "SUCCEEDED", f"{order.pods} pods {order.kind.lower()}"
            return
        failing = self.faults.get("dap.pod_start")
        instances = self.apps[order.app]
        if order.kind == "SCALE_OUT":
            if failing and failing.count > 0:
                failing.count -= 1
                for pod in instances:
                    if pod.name in order.pods_of_batch:
                        pod.status, pod.ready_at = "Failed", None
                order.state = "FAILED"
                order.message = f"pod {order.pods_of_batch[0]} failed to start: {failing.message}"
                return
            for pod in instances:
                if pod.name in order.pods_of_batch:
                    pod.status, pod.ready_at = "Running", None
        else:
            self.apps[order.app] = [p for p in instances if p.name not in order.pods_of_batch]
        order.state = "WAITING_CONFIRMATION"
        order.message = f"batch {order.batch}/{order.batches} done: confirm to go on"

    # -- release orders --------------------------------------------------------------------

    def start_batch(self, order: Order, now: float) -> None:
        order.state, order.phase_started, order.message = "RUNNING", now, None
        size = min(order.batch_size, order.pods - (order.batch - 1) * order.batch_size)
        instances = self.apps[order.app]
        if order.kind == "SCALE_OUT":
            taken = {pod.name for pod in instances}
            names: list[str] = []
            index = len(instances)
            while len(names) < size:
                index += 1
                name = f"{order.app}-{index}"
                if name not in taken:
                    names.append(name)
            instances += [
                SimInstance(name, "Pending", f"node-{(i % 3) + 1}") for i, name in enumerate(names)
            ]
        else:
            running = [pod for pod in instances if pod.status == "Running"]
            names = [pod.name for pod in running[-size:]]
            for pod in instances:
                if pod.name in names:
                    pod.status = "Terminating"
        order.pods_of_batch = names
