"""What each action does when its step runs. One handler per action code; the platform
actions (scale-out, middleware rules, gateway, IAM, product, instances) are implemented
against their platform clients, the general ones here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from catalog.registry import ACTIONS_BY_CODE
from catalog.system_config import CONFIGS_BY_KEY
from platforms.errors import PlatformError, raise_for_response, unreachable
from storage.db import async_session_factory
from storage.models import SystemConfig


class ActionContext:
    def __init__(self, database_url: str, execution_id: str, node_key: str) -> None:
        self.database_url = database_url
        self.execution_id = execution_id
        self.node_key = node_key

    async def config(self, key: str) -> Any:
        async with async_session_factory(self.database_url)() as session:
            row = await session.scalar(select(SystemConfig).where(SystemConfig.key == key))
        if row is None or row.value is None:
            raise PlatformError(key, "system config not set", retryable=False)
        return CONFIGS_BY_KEY[key].parse(row.value["value"])


Handler = Callable[[dict[str, Any], ActionContext], Awaitable[dict[str, Any]]]


async def checkpoint(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    return {"note": params.get("note")}


async def http_call(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    headers = {entry["key"]: entry["value"] for entry in params.get("headers", [])}
    if params.get("bearer_token"):
        headers["Authorization"] = f"Bearer {params['bearer_token']}"
    headers.setdefault("Idempotency-Key", f"{ctx.execution_id}/{ctx.node_key}")
    try:
        async with httpx.AsyncClient(timeout=params.get("timeout_seconds", 10)) as http:
            response = await http.request(
                params.get("method", "GET"), params["url"], headers=headers,
                content=params.get("body"),
            )  # fmt: skip
    except httpx.HTTPError as exc:
        raise unreachable(params["url"], exc) from None
    expected = params.get("expected_status") or [200]
    if response.status_code not in expected:
        retryable = response.status_code >= 500 or response.status_code == 429
        raise PlatformError(params["url"], f"HTTP {response.status_code} (expected "
                            f"{expected}): {response.text[:500]}", retryable=retryable)  # fmt: skip
    return {"status": response.status_code, "body": response.text[:2000]}


async def notify(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    hooks = {hook["name"]: hook for hook in await ctx.config("notification.webhooks")}
    hook = hooks.get(params["channel"])
    if hook is None:
        raise PlatformError("notification.webhooks", f"no channel {params['channel']!r}",
                            retryable=False)  # fmt: skip
    body = {"text": params["message"], "mention": params.get("mention", []),
            "execution": ctx.execution_id, "node": ctx.node_key}  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(hook["url"], json=body)
    except httpx.HTTPError as exc:
        raise unreachable(f"webhook {hook['name']}", exc) from None
    raise_for_response(f"webhook {hook['name']}", response)
    return {"channel": hook["name"], "status": response.status_code}


HANDLERS: dict[str, Handler] = {
    "CHECKPOINT": checkpoint,
    "HTTP_CALL": http_call,
    "NOTIFY": notify,
}
# Steps the workflow itself carries out (timers and people), never an activity.
IN_WORKFLOW = {"WAIT", "MANUAL_STEP"}


def handler_for(code: str) -> Handler:
    handler = HANDLERS.get(code)
    if handler is None:
        known = code in ACTIONS_BY_CODE
        reason = "has no implementation in this version" if known else "is unknown"
        raise PlatformError(code, f"action {code} {reason}", retryable=False)
    return handler
