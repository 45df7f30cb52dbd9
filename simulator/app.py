"""The simulator's HTTP API (FastAPI): the platforms' endpoints plus an admin reset."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException

from simulator.state import World


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

    @app.post("/admin/reset")
    def reset() -> dict[str, bool]:
        app.state.world = World.seeded()
        return {"reset": True}

    return app
