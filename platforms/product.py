"""Product management: a product's sales status (online / offline)."""

from __future__ import annotations

from typing import Any, Literal

from platforms.http import PlatformClient


class ProductClient(PlatformClient):
    title = "product platform"

    async def set_status(
        self, product: str, status: Literal["ONLINE", "OFFLINE"], reason: str
    ) -> dict[str, Any]:
        body = await self.call(
            "PUT",
            f"/product/v1/products/{product}/status",
            json={"status": status, "reason": reason},
        )
        return dict(body)
