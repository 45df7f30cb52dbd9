"""What each action does when its step runs: one handler per action code, against the
platform clients in `platforms/`. Each returns a structured result stored on the node.

Handlers get the step's effective parameters and an `ActionContext`: system config (base
URLs, credentials, timeouts), the idempotency key of this node's run, and `progress()` for
long actions to heartbeat what they have done so far (resumed after a worker crash).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select
from temporalio import activity

from catalog.options import OptionsError, resolve_instances
from catalog.params import InstanceFilter
from catalog.registry import ACTIONS_BY_CODE
from catalog.system_config import CONFIGS_BY_KEY
from nightwatch.logs import get_logger
from platforms.dap import DapClient
from platforms.errors import PlatformError, raise_for_response, unreachable
from platforms.gateway import GatewayClient
from platforms.http import Endpoint, resolve_secret
from platforms.iam import IamClient
from platforms.middleware import MiddlewareClient, RuleKind
from platforms.product import ProductClient
from storage.db import async_session_factory, unavailable
from storage.models import SystemConfig

log = get_logger("nightwatch.activities.actions")
# System config as this worker last read it, per database: what a step uses while the
# database is away.
_LAST_READ: dict[tuple[str, str], Any] = {}


class ActionContext:
    def __init__(
        self,
        database_url: str,
        execution_id: str,
        node_key: str,
        *,
        round_: int = 1,
        resumed: dict[str, Any] | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.database_url = database_url
        self.execution_id = execution_id
        self.node_key = node_key
        self.round = round_
        # What a previous attempt of this step reported through progress() (heartbeats).
        self.resumed = resumed
        self.details: dict[str, Any] | None = resumed
        self._on_progress = on_progress

    @property
    def idempotency_key(self) -> str:
        """Same for every attempt of this node's run; new when a person asks for a retry."""
        return f"{self.execution_id}/{self.node_key}/{self.round}"

    async def configs(self, *keys: str) -> dict[str, Any]:
        """Values of system-config keys (defaults applied); a missing one is a permanent error.

        A database outage does not fail the step: the values this worker read last are
        used, and without them the step waits for the database (heartbeating, so a
        cancellation still reaches it) until its own timeout."""
        pause = 1.0
        while True:
            try:
                rows = await self._config_rows(keys)
                break
            except Exception as exc:
                if not unavailable(exc):
                    raise
                known = {
                    k: _LAST_READ[(self.database_url, k)]
                    for k in keys
                    if (self.database_url, k) in _LAST_READ
                }
                if len(known) == len(keys):
                    log.warning("database unavailable: system config as last read", keys=keys)
                    return known
                log.warning(
                    "database unavailable: the step waits for its system config",
                    keys=keys,
                    retry_in=pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
        values = {}
        for key in keys:
            row = rows.get(key)
            if row is None or row.value is None or row.retired_at is not None:
                raise PlatformError(
                    key, "system config not set (`nightwatch config set`)", retryable=False
                )
            values[key] = _LAST_READ[(self.database_url, key)] = CONFIGS_BY_KEY[key].parse(
                row.value["value"]
            )
        return values

    async def _config_rows(self, keys: tuple[str, ...]) -> dict[str, SystemConfig]:
        async with async_session_factory(self.database_url)() as session:
            return {
                row.key: row
                for row in await session.scalars(
                    select(SystemConfig).where(SystemConfig.key.in_(keys))
                )
            }

    async def config(self, key: str) -> Any:
        return (await self.configs(key))[key]

    async def endpoint(self, platform: str) -> Endpoint:
        base, token, timeout = (
            f"platform.{platform}.base_url",
            f"platform.{platform}.token",
            "platform.http_timeout_seconds",
        )
        values = await self.configs(base, token, timeout)
        return Endpoint(
            base_url=str(values[base]),
            token=resolve_secret(token, values[token]),
            timeout=float(values[timeout]),
        )

    def progress(self, details: dict[str, Any]) -> None:
        """Report progress (plain JSON): heartbeated now and with every later heartbeat, and
        shown on the node while the step runs (its output until the result replaces it)."""
        self.details = details
        if activity.in_activity():
            activity.heartbeat(details)
        if self._on_progress is not None:
            self._on_progress(details)


Handler = Callable[[dict[str, Any], ActionContext], Awaitable[dict[str, Any]]]


# -- general -------------------------------------------------------------------------------


async def checkpoint(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    return {"note": params.get("note")}


async def http_call(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    headers = {entry["key"]: entry["value"] for entry in params.get("headers", [])}
    if params.get("bearer_token"):
        headers["Authorization"] = f"Bearer {params['bearer_token']}"
    headers.setdefault("Idempotency-Key", ctx.idempotency_key)
    try:
        async with httpx.AsyncClient(timeout=params.get("timeout_seconds", 10)) as http:
            response = await http.request(
                params.get("method", "GET"),
                params["url"],
                headers=headers,
                content=params.get("body"),
            )
    except httpx.HTTPError as exc:
        raise unreachable(params["url"], exc) from None
    expected = params.get("expected_status") or [200]
    if response.status_code not in expected:
        retryable = response.status_code >= 500 or response.status_code == 429
        raise PlatformError(
            params["url"],
            f"HTTP {response.status_code} (expected {expected}): {response.text[:500]}",
            retryable=retryable,
        )
    return {"status": response.status_code, "body": response.text[:2000]}


async def notify(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    hooks = {hook["name"]: hook for hook in await ctx.config("notification.webhooks")}
    hook = hooks.get(params["channel"])
    if hook is None:
        raise PlatformError(
            "notification.webhooks", f"no channel {params['channel']!r}", retryable=False
        )
    body = {
        "text": params["message"],
        "mention": params.get("mention", []),
        "execution": ctx.execution_id,
        "node": ctx.node_key,
    }
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                hook["url"], json=body, headers={"Idempotency-Key": ctx.idempotency_key}
            )
    except httpx.HTTPError as exc:
        raise unreachable(f"webhook {hook['name']}", exc) from None
    raise_for_response(f"webhook {hook['name']}", response)
    return {"channel": hook["name"], "status": response.status_code}


# -- product, gateway, IAM -----------------------------------------------------------------


def _product(status: str) -> Handler:
    async def handler(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        async with ProductClient(await ctx.endpoint("product")) as product:
            answer = await product.set_status(params["product_code"], status, params["reason"])  # type: ignore[arg-type]
        return {
            "product": params["product_code"],
            "status": answer.get("status", status),
            "previous": answer.get("previous"),
        }

    return handler


async def gateway_op_config(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    settings = {entry["key"]: entry["value"] for entry in params.get("settings", [])}
    async with GatewayClient(await ctx.endpoint("gateway")) as gateway:
        answer = await gateway.set_operation(
            params["gateway_group"], params["api_path"], params["operation"], settings
        )
    return {
        "gateway_group": params["gateway_group"],
        "api_path": params["api_path"],
        "operation": answer.get("operation"),
        "previous": answer.get("previous"),
        "settings": answer.get("settings", settings),
    }


async def iam_degrade(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    async with IamClient(await ctx.endpoint("iam")) as iam:
        answer = await iam.set_mode(params["mode"], params["reason"], params.get("max_minutes", 60))
    return {
        "mode": answer.get("mode"),
        "previous": answer.get("previous"),
        "until": answer.get("until"),
    }


async def iam_restore(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    async with IamClient(await ctx.endpoint("iam")) as iam:
        answer = await iam.set_mode("NORMAL", params["reason"])
    return {"mode": answer.get("mode"), "previous": answer.get("previous")}


# -- middleware rules ----------------------------------------------------------------------


def _apply_rule(kind: RuleKind, settings: tuple[str, ...]) -> Handler:
    async def handler(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        async with MiddlewareClient(await ctx.endpoint("middleware")) as console:
            rule = await console.put_rule(
                kind, params["service"], params["resource"], {k: params[k] for k in settings}
            )
        return {"service": params["service"], "rule": rule}

    return handler


def _lift_rule(kind: RuleKind) -> Handler:
    async def handler(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        async with MiddlewareClient(await ctx.endpoint("middleware")) as console:
            removed = await console.delete_rule(kind, params["service"], params["resource"])
        result: dict[str, Any] = {
            "service": params["service"],
            "resource": params["resource"],
            "kind": kind,
            "removed": removed,
        }
        if not removed:
            result["note"] = "no such rule: nothing to remove"
        return result

    return handler


# -- container instances -------------------------------------------------------------------


def _instances(code: str, operation: str) -> Handler:
    """Act on the instance named, or (empty) on every instance the action's filter offers."""
    infos = {info.name: info for info in ACTIONS_BY_CODE[code].param_infos}
    filter_ = InstanceFilter(infos["instance"].option_filter or InstanceFilter.ALL)

    async def handler(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        app, named = params["app"], params.get("instance")
        async with DapClient(await ctx.endpoint("dap")) as dap:
            # Chosen once: a later attempt acts on the same instances (a restarted one is
            # Pending by then and would no longer pass the filter).
            chosen = (ctx.resumed or {}).get("instances")
            if chosen is None:
                try:
                    chosen = await resolve_instances(dap, app, named, filter_)
                except OptionsError as exc:
                    raise PlatformError(exc.path, exc.reason, retryable=False) from None
                ctx.progress({"instances": chosen, "done": []})
            done = []
            for name in chosen:
                # Per instance and node run: the platform answers a repeat without acting.
                key = f"{ctx.idempotency_key}/{name}"
                answer = await dap.instance_action(app, name, operation, key)  # type: ignore[arg-type]
                done.append({"instance": name, **answer})
                ctx.progress({"instances": chosen, "done": [d["instance"] for d in done]})
        result: dict[str, Any] = {"app": app, "filter": str(filter_), "instances": done}
        if not named:
            result["note"] = f"instance empty: every {filter_} instance of {app} ({len(done)})"
        return result

    return handler


# -- the table -----------------------------------------------------------------------------


def _scale(kind: str) -> Handler:
    async def handler(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        from activities.scale import run_release_order

        return await run_release_order(params, ctx, kind)  # type: ignore[arg-type]

    return handler


HANDLERS: dict[str, Handler] = {
    "CHECKPOINT": checkpoint,
    "HTTP_CALL": http_call,
    "NOTIFY": notify,
    "PRODUCT_OFFLINE": _product("OFFLINE"),
    "PRODUCT_ONLINE": _product("ONLINE"),
    "GW_OP_CONFIG": gateway_op_config,
    "IAM_DEGRADE": iam_degrade,
    "IAM_RESTORE": iam_restore,
    "CIRCUIT_BREAK_APPLY": _apply_rule("circuit-break", ("error_ratio", "open_seconds")),
    "CIRCUIT_BREAK_LIFT": _lift_rule("circuit-break"),
    "RATE_LIMIT_APPLY": _apply_rule("rate-limit", ("qps",)),
    "RATE_LIMIT_LIFT": _lift_rule("rate-limit"),
    "DEGRADE_APPLY": _apply_rule("degrade", ("strategy",)),
    "DEGRADE_RESTORE": _lift_rule("degrade"),
    "CONTAINER_INSTANCE_RESTART": _instances("CONTAINER_INSTANCE_RESTART", "restart"),
    "CONTAINER_INSTANCE_REBUILD": _instances("CONTAINER_INSTANCE_REBUILD", "rebuild"),
    "CONTAINER_INSTANCE_DIAGNOSE": _instances("CONTAINER_INSTANCE_DIAGNOSE", "diagnose"),
    "APP_SCALE_OUT": _scale("SCALE_OUT"),
    "APP_SCALE_IN": _scale("SCALE_IN"),
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
