"""Scale-out and scale-in: one release order, driven to its end in one step.

Create the order (once: the idempotency key is the node's), execute it, confirm each batch
of pods as the platform asks, and poll the order at `scale_out.poll_interval_seconds`
until it succeeds or fails. Progress (order id, state, batch, polls) is heartbeated; an
attempt after a worker crash resumes from it and re-reads the order's real state from the
platform (the last heartbeat before a crash may be lost; the idempotency key still finds
the same order). Cancelled, it stops at once and says where the order was left.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from platforms.dap import DapClient, OrderKind, ReleaseOrder
from platforms.errors import PlatformError

if TYPE_CHECKING:
    from activities.actions import ActionContext


def _progress(order: ReleaseOrder, started: float, polls: int) -> dict[str, Any]:
    return {
        "order": order.id,
        "state": order.state,
        "batch": order.batch,
        "batches": order.batches,
        "confirmed": order.confirmed,
        "polls": polls,
        "started": started,
        "message": order.message,
    }


async def run_release_order(
    params: dict[str, Any], ctx: ActionContext, kind: OrderKind
) -> dict[str, Any]:
    configs = await ctx.configs("scale_out.poll_interval_seconds", "scale_out.max_wait_minutes")
    interval = float(configs["scale_out.poll_interval_seconds"])
    max_wait = int(configs["scale_out.max_wait_minutes"]) * 60
    resumed = ctx.resumed or {}
    async with DapClient(await ctx.endpoint("dap")) as dap:
        if resumed.get("order"):
            order = await dap.order(resumed["order"])
        else:
            order = await dap.create_order(
                params["app"],
                kind,
                params["pods"],
                params.get("batch_size", 1),
                ctx.idempotency_key,
            )
        started = float(resumed.get("started") or time.time())
        polls = int(resumed.get("polls") or 0)
        ctx.progress(_progress(order, started, polls))
        while not order.ended:
            if time.time() - started > max_wait:
                raise PlatformError(
                    dap.title,
                    f"release order {order.id} still {order.state} "
                    f"(batch {order.batch}/{order.batches}) after "
                    f"{max_wait // 60} min; left as it is on the platform",
                    retryable=False,
                )
            if order.state == "CREATED":
                order = await dap.execute_order(order.id)
            elif order.state == "WAITING_CONFIRMATION":
                order = await dap.confirm_batch(order.id, order.batch)
            else:
                await asyncio.sleep(interval)
                order = await dap.order(order.id)
                polls += 1
            ctx.progress(_progress(order, started, polls))
    if order.state != "SUCCEEDED":
        raise PlatformError(
            dap.title,
            f"release order {order.id} {order.state}: {order.message or 'no message'}",
            retryable=False,
        )
    return {
        "order": order.id,
        "app": order.app,
        "kind": order.kind,
        "pods": order.pods,
        "batches": order.batches,
        "confirmed": order.confirmed,
        "polls": polls,
        "resumed": bool(resumed),
        "seconds": round(time.time() - started, 1),
    }
