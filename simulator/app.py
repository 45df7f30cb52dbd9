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

    @app.post("/admin/reset")
    def reset() -> dict[str, bool]:
        app.state.world = World.seeded()
        return {"reset": True}

    return app
