"""The distributed-architecture platform: applications and their container instances.

(Release orders for scale-out and scale-in join this client with the actions.)
"""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel

from platforms.errors import raise_for_response, unreachable

PLATFORM = "distributed-architecture platform"
InstanceStatus = Literal["Running", "Pending", "Failed", "Stopped"]


class Instance(BaseModel):
    name: str
    status: InstanceStatus
    node: str | None = None


class InstanceList(BaseModel):
    app: str
    instances: list[Instance]


class DapClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    async def instances(self, app: str) -> list[Instance]:
        async with httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout) as http:
            try:
                response = await http.get(f"/dap/v1/apps/{app}/instances")
            except httpx.HTTPError as exc:
                raise unreachable(PLATFORM, exc) from None
        raise_for_response(PLATFORM, response)
        return InstanceList.model_validate(response.json()).instances
