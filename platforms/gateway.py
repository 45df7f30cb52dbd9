"""The API gateway console: an API's operation (offline, online, throttle, mock)."""

from __future__ import annotations

from typing import Any

from platforms.http import PlatformClient


class GatewayClient(PlatformClient):
    title = "API gateway"

    async def set_operation(
        self, group: str, api_path: str, operation: str, settings: dict[str, str]
    ) -> dict[str, Any]:
        """Set the API's operation (idempotent: setting it twice changes nothing)."""
        body = await self.call(
            "PUT",
            f"/gw/v1/groups/{group}/api-operation",
            json={"api_path": api_path, "operation": operation, "settings": settings},
        )
        return dict(body)

    async def apis(self, group: str) -> dict[str, dict[str, Any]]:
        """Every API published on the group: path -> operation and settings."""
        return dict((await self.call("GET", f"/gw/v1/groups/{group}/apis"))["apis"])
