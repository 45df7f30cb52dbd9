"""What each check kind does: look at one target and say what it observed.

A probe never raises for what it sees: an endpoint that is down, a name that does not
resolve or a refused connection is an observation (`error`, and whatever else it saw), so
the conditions decide pass or fail. Only a bug raises. Every probe is bounded by the
check's `timeout_ms`; the HTTP probes share connection pools per TLS setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.rcode
import dns.resolver
import httpx
import psycopg
from cryptography import x509
from pydantic import BaseModel, Field
from sqlalchemy import text

from activities.actions import ActionContext
from catalog.checks import (
    CHECKS_BY_CODE,
    AppInstancesParams,
    CheckParams,
    DnsParams,
    GatewayDriftParams,
    HttpParams,
    IamDegradedParams,
    PostgresParams,
    PrometheusParams,
    ReleaseOrdersParams,
    RuleDriftParams,
    TcpParams,
    TlsParams,
)
from platforms.dap import DapClient
from platforms.errors import PlatformError
from platforms.gateway import GatewayClient
from platforms.http import resolve_secret
from platforms.iam import IamClient
from platforms.middleware import MiddlewareClient
from storage.db import async_session_factory

EVIDENCE_LIMIT = 2000


class Observation(BaseModel):
    """What a probe saw: the subjects conditions name, and evidence for a person."""

    observed: dict[str, Any] = Field(default_factory=dict)
    evidence: str = ""
    error: str | None = None


class ProbeEnv:
    """What probes share within one worker: HTTP pools, the database, platform settings.

    HTTP clients are sharded (`SHARDS` per TLS setting, taken in turn): one httpx pool
    serving a hundred requests at once spends more CPU on its own bookkeeping than on the
    requests (2,000 checks: 21 s through one client, 3.5 s through 25; bench/inspection.py).
    """

    SHARDS = 32

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pools: dict[tuple[bool, str | None, bool], list[httpx.AsyncClient]] = {}
        self._turn = itertools.count()

    def http(self, verify: bool, ca_file: str | None, redirects: bool) -> httpx.AsyncClient:
        key = (verify, ca_file, redirects)
        shards = self._pools.get(key)
        if shards is None:
            tls: ssl.SSLContext | bool = verify
            if verify and ca_file:
                tls = ssl.create_default_context(cafile=ca_file)
            shards = [
                httpx.AsyncClient(
                    verify=tls,
                    follow_redirects=redirects,
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    trust_env=False,
                )
                for _ in range(self.SHARDS)
            ]
            self._pools[key] = shards
        return shards[next(self._turn) % len(shards)]

    def platform(self, run: str, check: str) -> ActionContext:
        return ActionContext(self.database_url, run, check)

    async def aclose(self) -> None:
        for shards in self._pools.values():
            for client in shards:
                await client.aclose()
        self._pools.clear()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _days_left(der: bytes | None) -> tuple[float | None, x509.Certificate | None]:
    if not der:
        return None, None
    cert = x509.load_der_x509_certificate(der)
    left = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400
    return round(left, 2), cert


def _failure(exc: BaseException) -> str:
    """One line naming what went wrong, without the stack."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return "timed out"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:500] if message else type(exc).__name__


# -- network ------------------------------------------------------------------------------


async def http(params: HttpParams, env: ProbeEnv, _: str) -> Observation:
    client = env.http(params.verify_tls, params.ca_file, params.follow_redirects)
    headers = {h.name: h.value for h in params.headers}
    limit = params.max_body_kb * 1024
    started = time.perf_counter()
    try:
        async with client.stream(
            params.method,
            params.url,
            headers=headers,
            content=params.body,
            timeout=params.timeout_ms / 1000,
        ) as response:
            cert_days = None
            stream = response.extensions.get("network_stream")
            tls = stream.get_extra_info("ssl_object") if stream is not None else None
            if tls is not None:
                cert_days, _cert = _days_left(tls.getpeercert(binary_form=True))
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= limit:
                    break
        elapsed = _ms(started)
    except httpx.HTTPError as exc:
        return Observation(
            observed={"response_time": _ms(started), "error": _failure(exc)},
            error=_failure(exc),
        )
    body = b"".join(chunks)[:limit].decode(response.encoding or "utf-8", errors="replace")
    observed: dict[str, Any] = {
        "status": response.status_code,
        "response_time": elapsed,
        "body": body,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "error": "",
    }
    if cert_days is not None:
        observed["cert_days"] = cert_days
    if "json" in response.headers.get("content-type", "") or body[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            observed["json"] = json.loads(body)
    status_line = f"HTTP {response.status_code} {response.reason_phrase} in {elapsed}ms"
    return Observation(observed=observed, evidence=f"{status_line}\n{body[:500]}")


async def tcp(params: TcpParams, env: ProbeEnv, _: str) -> Observation:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(params.timeout_ms / 1000):
            _reader, writer = await asyncio.open_connection(params.host, params.port)
        elapsed = _ms(started)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        failure = _failure(exc)
        return Observation(
            observed={"connected": False, "response_time": _ms(started), "error": failure},
            evidence=f"{params.host}:{params.port}: {failure}",
            error=failure,
        )
    return Observation(
        observed={"connected": True, "response_time": elapsed, "error": ""},
        evidence=f"{params.host}:{params.port} connected in {elapsed}ms",
    )


async def dns_(params: DnsParams, env: ProbeEnv, _: str) -> Observation:
    resolver = dns.asyncresolver.Resolver(configure=params.nameserver is None)
    if params.nameserver:
        host, _sep, port = params.nameserver.rpartition(":")
        if not host or not port.isdigit():
            host, port = params.nameserver, "53"
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    resolver.lifetime = params.timeout_ms / 1000
    started = time.perf_counter()
    try:
        answer = await resolver.resolve(params.name, params.record_type, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        observed = {"rcode": "NXDOMAIN", "answers": [], "response_time": _ms(started), "error": ""}
        return Observation(observed=observed, evidence=f"{params.name}: NXDOMAIN")
    except (dns.exception.DNSException, OSError) as exc:
        failure = _failure(exc)
        observed = {"rcode": "", "answers": [], "response_time": _ms(started), "error": failure}
        return Observation(observed=observed, evidence=f"{params.name}: {failure}", error=failure)
    answers = [item.to_text() for item in answer.rrset] if answer.rrset is not None else []
    rcode = dns.rcode.to_text(answer.response.rcode())
    observed = {"rcode": rcode, "answers": answers, "response_time": _ms(started), "error": ""}
    shown = ", ".join(answers) or "no answer"
    return Observation(observed=observed, evidence=f"{params.name} {params.record_type}: {shown}")


async def tls(params: TlsParams, env: ProbeEnv, _: str) -> Observation:
    name = params.server_name or params.host
    started = time.perf_counter()
    verified, problem = True, ""
    try:
        der = await _handshake(params, name, verify=True)
    except ssl.SSLCertVerificationError as exc:
        verified, problem = False, f"not verified: {exc.verify_message or exc.reason}"
        try:
            der = await _handshake(params, name, verify=False)
        except (OSError, TimeoutError) as again:
            return _tls_failed(params, started, _failure(again))
    except (OSError, TimeoutError) as exc:
        return _tls_failed(params, started, _failure(exc))
    elapsed = _ms(started)
    days, cert = _days_left(der)
    assert cert is not None
    observed = {
        "cert_days": days,
        "verified": verified,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "response_time": elapsed,
        "error": problem,
    }
    evidence = (
        f"{params.host}:{params.port} {cert.subject.rfc4514_string()} expires "
        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z ({days} days)"
        + (f"; {problem}" if problem else "")
    )
    return Observation(observed=observed, evidence=evidence)


def _tls_failed(params: TlsParams, started: float, failure: str) -> Observation:
    return Observation(
        observed={"verified": False, "response_time": _ms(started), "error": failure},
        evidence=f"{params.host}:{params.port}: {failure}",
        error=failure,
    )


async def _handshake(params: TlsParams, name: str, *, verify: bool) -> bytes | None:
    context = ssl.create_default_context(cafile=params.ca_file)
    if not verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    async with asyncio.timeout(params.timeout_ms / 1000):
        _reader, writer = await asyncio.open_connection(
            params.host, params.port, ssl=context, server_hostname=name
        )
    try:
        tls_object = writer.get_extra_info("ssl_object")
        return tls_object.getpeercert(binary_form=True) if tls_object else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


# -- metrics and databases ----------------------------------------------------------------


async def prometheus(params: PrometheusParams, env: ProbeEnv, _: str) -> Observation:
    client = env.http(True, None, False)
    started = time.perf_counter()
    try:
        response = await client.get(
            params.server.rstrip("/") + "/api/v1/query",
            params={"query": params.query},
            timeout=params.timeout_ms / 1000,
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        failure = _failure(exc)
        return Observation(
            observed={"response_time": _ms(started), "series": 0, "values": [], "error": failure},
            error=failure,
        )
    elapsed = _ms(started)
    if body.get("status") != "success":
        failure = f"{body.get('errorType', 'error')}: {body.get('error', response.text[:200])}"
        return Observation(
            observed={"response_time": elapsed, "series": 0, "values": [], "error": failure},
            evidence=f"HTTP {response.status_code}: {failure}",
            error=failure,
        )
    data = body["data"]
    if data["resultType"] == "vector":
        series = [(item["metric"], float(item["value"][1])) for item in data["result"]]
    elif data["resultType"] == "scalar":
        series = [({}, float(data["result"][1]))]
    else:
        failure = f"the query returned a {data['resultType']}: use an instant vector or scalar"
        return Observation(observed={"series": 0, "values": [], "error": failure}, error=failure)
    observed: dict[str, Any] = {
        "series": len(series),
        "values": [value for _, value in series],
        "response_time": elapsed,
        "error": "",
    }
    if series:
        observed["value"], observed["labels"] = series[0][1], series[0][0]
    shown = "; ".join(f"{_labels(labels)} {value:g}" for labels, value in series[:10])
    return Observation(observed=observed, evidence=f"{params.query} → {shown or 'no series'}")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


async def postgres(params: PostgresParams, env: ProbeEnv, _: str) -> Observation:
    started = time.perf_counter()
    dsn = resolve_secret("dsn", params.dsn) or ""

    def hidden(exc: BaseException) -> str:
        return _failure(exc).replace(dsn, "<dsn>") if dsn else _failure(exc)

    try:
        async with asyncio.timeout(params.timeout_ms / 1000):
            connection = await psycopg.AsyncConnection.connect(
                dsn,
                connect_timeout=max(1, params.timeout_ms // 1000),
                options=(
                    f"-c default_transaction_read_only=on -c statement_timeout={params.timeout_ms}"
                ),
            )
    except (psycopg.Error, OSError, TimeoutError) as exc:
        failure = hidden(exc)
        return Observation(
            observed={"connected": False, "response_time": _ms(started), "error": failure},
            evidence=f"cannot connect: {failure}",
            error=failure,
        )
    try:
        async with connection, asyncio.timeout(params.timeout_ms / 1000):
            await connection.set_read_only(True)
            cursor = await connection.execute(params.query)
            rows = await cursor.fetchmany(1000) if cursor.description else []
            await connection.rollback()
    except (psycopg.Error, OSError, TimeoutError) as exc:
        failure = hidden(exc)
        return Observation(
            observed={"connected": True, "response_time": _ms(started), "error": failure},
            evidence=f"connected; the query failed: {failure}",
            error=failure,
        )
    elapsed = _ms(started)
    value = rows[0][0] if rows and rows[0] else None
    if value is not None and not isinstance(value, int | float | str | bool):
        value = str(value)
    observed = {
        "connected": True,
        "value": value,
        "rows": len(rows),
        "response_time": elapsed,
        "error": "",
    }
    return Observation(observed=observed, evidence=f"{len(rows)} rows; first value {value!r}")


# -- platforms ----------------------------------------------------------------------------


async def app_instances(params: AppInstancesParams, env: ProbeEnv, run: str) -> Observation:
    async with DapClient(await env.platform(run, "app_instances").endpoint("dap")) as dap:
        instances = await dap.instances(params.app)
    down = [{"name": i.name, "status": i.status} for i in instances if i.status != "Running"]
    observed = {
        "not_running": len(down),
        "running": len(instances) - len(down),
        "instances": down,
        "error": "",
    }
    shown = ", ".join(f"{d['name']} {d['status']}" for d in down) or "all Running"
    return Observation(observed=observed, evidence=f"{params.app}: {shown}")


async def release_orders(params: ReleaseOrdersParams, env: ProbeEnv, run: str) -> Observation:
    async with DapClient(await env.platform(run, "release_orders").endpoint("dap")) as dap:
        orders = await dap.orders(params.app)
    now = time.time()
    stuck = []
    for order in orders:
        minutes = (now - order.updated_at) / 60 if order.updated_at else 0.0
        if not order.ended and minutes >= params.stuck_minutes:
            stuck.append(
                {"id": order.id, "app": order.app, "state": order.state, "minutes": round(minutes)}
            )
    shown = ", ".join(f"{o['id']} {o['state']} {o['minutes']} min" for o in stuck) or "none stuck"
    return Observation(
        observed={"stuck": len(stuck), "orders": stuck, "error": ""},
        evidence=f"{len(orders)} orders; {shown}",
    )


RULE_ACTIONS = {
    "CIRCUIT_BREAK_APPLY": ("circuit-break", ("error_ratio", "open_seconds")),
    "RATE_LIMIT_APPLY": ("rate-limit", ("qps",)),
    "DEGRADE_APPLY": ("degrade", ("strategy",)),
    "CIRCUIT_BREAK_LIFT": ("circuit-break", None),
    "RATE_LIMIT_LIFT": ("rate-limit", None),
    "DEGRADE_RESTORE": ("degrade", None),
}
# What plans last set, per kind of rule (the first word of the action's code): the newest
# succeeded node of those actions on this resource.
LAST_SET = text("""
select distinct on (split_part(a.code, '_', 1)) a.code, n.parameters, o.execution_id, n.ended_at
  from pre_plan_execute_node n
  join pre_plan_action a on a.id = n.atom_id
  join pre_plan_execute_order o on o.id = n.execute_order_id
 where n.type = 'ATOMIC_ACTION' and n.state = 'SUCCEEDED' and a.code = any(:codes)
   and n.parameters ->> :key1 = :value1 and n.parameters ->> :key2 = :value2
 order by split_part(a.code, '_', 1), n.ended_at desc nulls last
""")


async def _last_set(
    env: ProbeEnv, codes: list[str], key1: str, value1: str, key2: str, value2: str
) -> list[Any]:
    async with async_session_factory(env.database_url)() as session:
        rows = await session.execute(
            LAST_SET,
            {"codes": codes, "key1": key1, "value1": value1, "key2": key2, "value2": value2},
        )
        return list(rows)


async def rule_drift(params: RuleDriftParams, env: ProbeEnv, run: str) -> Observation:
    last = await _last_set(
        env, list(RULE_ACTIONS), "service", params.service, "resource", params.resource
    )
    endpoint = await env.platform(run, "rule_drift").endpoint("middleware")
    async with MiddlewareClient(endpoint) as middleware:
        live = {
            rule["kind"]: rule
            for rule in await middleware.rules(params.service)
            if rule.get("resource") == params.resource
        }
    differences, set_by = [], []
    for code, parameters, execution, _ended in last:
        kind, fields = RULE_ACTIONS[code]
        set_by.append(execution)
        rule = live.get(kind)
        if fields is None:
            if rule is not None:
                differences.append(f"{kind}: lifted by {execution}, present now")
            continue
        if rule is None:
            differences.append(f"{kind}: set by {execution}, absent now")
            continue
        for field in fields:
            wanted = parameters.get(field)
            if wanted is not None and str(rule.get(field)) != str(wanted):
                differences.append(
                    f"{kind}.{field}: {execution} set {wanted}, now {rule.get(field)}"
                )
    observed = {
        "drifted": bool(differences),
        "differences": differences,
        "set_by": ", ".join(set_by),
        "error": "",
    }
    evidence = "; ".join(differences) or (
        f"as {', '.join(set_by)} left it" if set_by else "no plan has set a rule here"
    )
    return Observation(
        observed=observed, evidence=f"{params.service} {params.resource}: {evidence}"
    )


async def gateway_drift(params: GatewayDriftParams, env: ProbeEnv, run: str) -> Observation:
    last = await _last_set(
        env, ["GW_OP_CONFIG"], "gateway_group", params.gateway_group, "api_path", params.api_path
    )
    endpoint = await env.platform(run, "gateway_drift").endpoint("gateway")
    async with GatewayClient(endpoint) as gateway:
        apis = await gateway.apis(params.gateway_group)
    live = apis.get(params.api_path)
    if live is None:
        failure = f"{params.api_path} is not published on {params.gateway_group}"
        return Observation(observed={"error": failure}, evidence=failure, error=failure)
    differences, set_by = [], ""
    if last:
        _code, parameters, set_by, _ended = last[0]
        if live.get("operation") != parameters.get("operation"):
            wanted_op, live_op = parameters.get("operation"), live.get("operation")
            differences.append(f"operation: {set_by} set {wanted_op}, now {live_op}")
        wanted = {e["key"]: e["value"] for e in parameters.get("settings", [])}
        if wanted and wanted != (live.get("settings") or {}):
            differences.append(f"settings: {set_by} set {wanted}, now {live.get('settings')}")
    observed = {
        "drifted": bool(differences),
        "differences": differences,
        "operation": live.get("operation"),
        "set_by": set_by,
        "error": "",
    }
    shown = "; ".join(differences) or f"operation {live.get('operation')}"
    return Observation(observed=observed, evidence=f"{params.api_path}: {shown}")


async def iam_degraded(params: IamDegradedParams, env: ProbeEnv, run: str) -> Observation:
    async with IamClient(await env.platform(run, "iam_degraded").endpoint("iam")) as iam:
        mode = await iam.mode()
    name = str(mode.get("mode") or "NORMAL")
    since = mode.get("since")
    minutes = 0.0
    if name != "NORMAL" and isinstance(since, int | float):
        minutes = round((time.time() - since) / 60, 1)
    observed = {
        "mode": name,
        "degraded_minutes": minutes,
        "over_limit": name != "NORMAL" and minutes > params.max_minutes,
        "error": "",
    }
    evidence = f"IAM {name}" + (f" for {minutes} min ({mode.get('reason')})" if minutes else "")
    return Observation(observed=observed, evidence=evidence)


Probe = Callable[[Any, ProbeEnv, str], Awaitable[Observation]]
PROBES: dict[str, Probe] = {
    "http": http,
    "tcp": tcp,
    "dns": dns_,
    "tls": tls,
    "prometheus": prometheus,
    "postgres": postgres,
    "app_instances": app_instances,
    "release_orders": release_orders,
    "rule_drift": rule_drift,
    "gateway_drift": gateway_drift,
    "iam_degraded": iam_degraded,
}
assert set(PROBES) == set(CHECKS_BY_CODE), "every check kind needs its probe"


async def observe(kind: str, params: CheckParams, env: ProbeEnv, run: str) -> Observation:
    """Run one probe within its timeout; a platform or timeout failure is an observation."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(params.timeout_ms / 1000 + 1):
            return await PROBES[kind](params, env, run)
    except TimeoutError:
        failure = f"timed out after {params.timeout_ms} ms"
    except PlatformError as exc:
        failure = f"{exc.path}: {exc.reason}"
    except httpx.HTTPError as exc:
        failure = _failure(exc)
    return Observation(
        observed={"error": failure, "response_time": _ms(started)},
        evidence=failure[:EVIDENCE_LIMIT],
        error=failure,
    )
