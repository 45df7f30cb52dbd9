"""The simulator's HTTP API (FastAPI): the platforms' endpoints plus an admin reset."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from simulator.state import Fault, World


class FaultSpec(BaseModel):
    status: int = 503
    count: int = 0
    delay_seconds: float = 0.0
    message: str = "injected fault"


def create_app() -> FastAPI:
    app = FastAPI(title="Nightwatch platform simulator", version="1")
    app.state.world = World.seeded()

    def world() -> World:
        current: World = app.state.world
        return current

    @app.get("/dap/v1/apps")
    def list_apps() -> dict[str, list[str]]:
        return {"apps": sorted(world().apps)}

    @app.get("/dap/v1/apps/{name}/instances")
    def list_instances(name: str) -> dict[str, object]:
        instances = world().apps.get(name)
        if instances is None:
            raise HTTPException(404, detail={"message": f"application {name} does not exist"})
        return {
            "app": name,
            "instances": [{"name": i.name, "status": i.status, "node": i.node} for i in instances],
        }

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
        current = world()
        current.calls[name] = current.calls.get(name, 0) + 1
        fault = current.faults.get(name)
        if fault and fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault and fault.count > 0:
            fault.count -= 1
            return JSONResponse({"message": fault.message}, status_code=fault.status)
        return JSONResponse({"probe": name, "calls": current.calls[name]})

    @app.put("/admin/faults/{name}")
    def set_fault(name: str, spec: FaultSpec) -> dict[str, object]:
        world().faults[name] = Fault(**spec.model_dump())
        return {"fault": name, **spec.model_dump()}

    @app.get("/admin/calls/{name}")
    def calls(name: str) -> dict[str, int]:
        return {"calls": world().calls.get(name, 0)}

    @app.post("/admin/reset")
    def reset() -> dict[str, bool]:
        app.state.world = World.seeded()
        return {"reset": True}

    return app
