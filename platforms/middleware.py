"""The middleware console: circuit-breaking, rate-limiting and degradation rules.

A rule is set with PUT (create or replace: idempotent) and removed with DELETE; removing a
rule that is not there is reported, not an error (the revert of a plan may run twice).
"""

from __future__ import annotations

from typing import Any, Literal

from platforms.http import PlatformClient

RuleKind = Literal["circuit-break", "rate-limit", "degrade"]


class MiddlewareClient(PlatformClient):
    title = "middleware console"

    async def put_rule(
        self, kind: RuleKind, service: str, resource: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        body = await self.call(
            "PUT",
            f"/mw/v1/services/{service}/rules/{kind}",
            json={"resource": resource, **settings},
        )
        return dict(body)

    async def delete_rule(self, kind: RuleKind, service: str, resource: str) -> bool:
        """True if a rule was removed, False if there was none."""
        body = await self.call(
            "DELETE",
            f"/mw/v1/services/{service}/rules/{kind}",
            params={"resource": resource},
            absent_ok=True,
        )
        return body is not None

    async def rules(self, service: str) -> list[dict[str, Any]]:
        body = await self.call("GET", f"/mw/v1/services/{service}/rules")
        return list(body["rules"])
