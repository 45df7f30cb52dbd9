"""Development helpers: the front page, a chat webhook, probes for HTTP_CALL steps, and
the fault switches and settings of the simulated world."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from simulator.http import FaultSpec, SettingsSpec, WorldDep, behave
from simulator.index import render
from simulator.state import Fault, SimError, World

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(world: WorldDep, request: Request) -> str:
    """What is simulated now, and the fault switches (no token needed to read it)."""
    return render(world, token_required=request.app.state.token is not None)


@router.post("/chat/{channel}")
def receive_chat(world: WorldDep, channel: str, message: dict[str, object]) -> dict[str, int]:
    """A chat webhook: keeps what NOTIFY steps post, for people and tests to read."""
    messages = world.chat.setdefault(channel, [])
    messages.append(message)
    return {"received": len(messages)}


@router.get("/chat/{channel}")
def read_chat(world: WorldDep, channel: str) -> dict[str, list[dict[str, object]]]:
    return {"messages": world.chat.get(channel, [])}


@router.api_route("/probe/{name}", methods=["GET", "POST"], include_in_schema=False)
async def probe(world: WorldDep, name: str) -> JSONResponse:
    """A generic endpoint for HTTP_CALL steps; behaves as its fault says."""
    try:
        await behave(world, name)
    except SimError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    return JSONResponse({"probe": name, "calls": world.calls.get(name, 0)})


@router.put("/admin/faults/{name}")
def set_fault(world: WorldDep, name: str, spec: FaultSpec) -> dict[str, object]:
    """Make an endpoint misbehave (`dap.create_order`, `dap.get_order`, ...; see docs)."""
    world.faults[name] = Fault(**spec.model_dump())
    return {"fault": name, **spec.model_dump()}


@router.delete("/admin/faults/{name}")
def clear_fault(world: WorldDep, name: str) -> dict[str, object]:
    return {"cleared": world.faults.pop(name, None) is not None}


@router.get("/admin/calls/{name}")
def calls(world: WorldDep, name: str) -> dict[str, int]:
    return {"calls": world.calls.get(name, 0)}


@router.put("/admin/settings")
def settings(world: WorldDep, spec: SettingsSpec) -> dict[str, float]:
    if spec.step_seconds is not None:
        world.step_seconds = spec.step_seconds
    if spec.age_seconds is not None:
        world.aged = spec.age_seconds
    return {"step_seconds": world.step_seconds, "age_seconds": world.aged}


@router.post("/admin/reset")
def reset(request: Request) -> dict[str, bool]:
    request.app.state.world = World.seeded(request.app.state.step_seconds)
    return {"reset": True}
