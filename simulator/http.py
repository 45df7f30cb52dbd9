"""What every simulator route shares: the world it simulates (`app.state.world`), the
platforms' bearer token and clock, faults, and the platforms' own error bodies
(`{message, retryable}`: what platforms/ parses, unlike Nightwatch's own services)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from simulator.state import SimError, World


class FaultSpec(BaseModel):
    status: int = 503
    count: int = 0
    delay_seconds: float = 0.0
    message: str = "injected fault"
    retryable: bool | None = None
    stuck: bool = False


class SettingsSpec(BaseModel):
    step_seconds: float | None = Field(None, gt=0, le=600)
    # Report every "since" and "updated at" this much earlier: as if time had passed (an
    # order stuck for an hour, IAM degraded for a day) without waiting for it.
    age_seconds: float | None = Field(None, ge=0, le=30 * 86400)


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


def world_of(request: Request) -> World:
    found: World = request.app.state.world
    return found


def numbers_of(request: Request) -> Iterator[int]:
    """Release-order numbers: they go on across a reset, as a platform's would."""
    found: Iterator[int] = request.app.state.numbers
    return found


WorldDep = Annotated[World, Depends(world_of)]
NumbersDep = Annotated[Iterator[int], Depends(numbers_of)]


async def platform(request: Request) -> None:
    """Every platform call: credentials checked, time advanced."""
    token: str | None = request.app.state.token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given, f"Bearer {token}"):
            raise SimError(401, "missing or wrong credentials", retryable=False)
    world_of(request).tick()


async def behave(world: World, name: str) -> None:
    """Apply the endpoint's fault, if any (count the call either way)."""
    fault = world.fault(name)
    if fault is None:
        return
    if fault.delay_seconds:
        await asyncio.sleep(fault.delay_seconds)
    if fault.count != 0:
        fault.count -= 1 if fault.count > 0 else 0  # a negative count fails forever
        raise SimError(fault.status, fault.message, retryable=fault.retryable)


async def sim_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SimError)
    return JSONResponse({"message": exc.message, "retryable": exc.retryable}, exc.status)
