"""Raw Temporal baselines: the same shapes with no Nightwatch in them."""

from __future__ import annotations

import time
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(_: int) -> float:
    return time.time()


@workflow.defn
class RawStepsWorkflow:
    """N sequential no-op activities."""

    @workflow.run
    async def run(self, steps: int) -> None:
        for i in range(steps):
            await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class RawSignalWorkflow:
    """Waits for a signal, then runs one activity; returns when that activity started."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def confirm(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> float:
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(
            noop, 0, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class RawFirstActivity:
    """One activity; returns when it started (a bare start's latency to its first step)."""

    @workflow.run
    async def run(self) -> float:
        return await workflow.execute_activity(
            noop, 0, start_to_close_timeout=timedelta(seconds=30)
        )
