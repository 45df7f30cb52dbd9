"""IAM administration: the degraded mode (on with a mode and a limit, or back to normal)."""

from __future__ import annotations

from typing import Any

from platforms.http import PlatformClient


class IamClient(PlatformClient):
    title = "IAM"

    async def set_mode(
        self, mode: str, reason: str, max_minutes: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode, "reason": reason}
        if max_minutes is not None:
            body["max_minutes"] = max_minutes
        return dict(await self.call("PUT", "/iam/v1/mode", json=body))

    async def mode(self) -> dict[str, Any]:
        return dict(await self.call("GET", "/iam/v1/mode"))
