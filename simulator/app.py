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

import itertools

from fastapi import FastAPI

from nightwatch import web
from simulator import consoles, dap, helpers
from simulator.http import sim_error
from simulator.state import SimError, World


def create_app(*, token: str | None = None, step_seconds: float = 2.0) -> FastAPI:
    app = web.app(title="Nightwatch platform simulator", version="2")
    app.state.world = World.seeded(step_seconds)
    app.state.step_seconds, app.state.token = step_seconds, token
    app.state.numbers = itertools.count(1)
    app.add_exception_handler(SimError, sim_error)
    for part in (dap, consoles, helpers):
        app.include_router(part.router)
    return app
