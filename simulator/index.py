"""The simulator's front page: what it simulates right now and the fault switches, for a
person who opens http://127.0.0.1:8090 (plain HTML, nothing loaded from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from simulator.state import World

# Endpoint names a fault can be set on (`PUT /admin/faults/{name}`), and what each affects.
FAULT_SWITCHES = [
    ("dap.instances, dap.restart, dap.rebuild, dap.diagnose", "instance listing and operations"),
    (
        "dap.create_order, dap.get_order, dap.execute_order, dap.confirm_batch",
        "release-order calls",
    ),
    ('dap.order_progress with {"stuck": true}', "release orders stop moving"),
    ("dap.pod_start with count", "the next batches' pods fail to start (the order fails)"),
    ("mw.put_rule, mw.delete_rule, mw.rules", "middleware console"),
    ("gw.operation, iam.mode, product.status", "gateway, IAM, product platform"),
    ("any other name", "/probe/{name}, for HTTP_CALL steps"),
]
PLATFORMS = [
    ("/dap/v1/apps/{app}/instances", "distributed-architecture platform: instances"),
    ("/dap/v1/release-orders", "release orders (scale out / in, confirmed batch by batch)"),
    ("/mw/v1/services/{service}/rules", "middleware console: circuit breaking, rate limits"),
    ("/gw/v1/groups/{group}/apis", "API gateway: operations per API"),
    ("/iam/v1/mode", "IAM: normal or degraded"),
    ("/product/v1/products/{code}/status", "product platform: online / offline"),
]
FAULT_EXAMPLE = (
    "curl -X PUT http://127.0.0.1:8090/admin/faults/dap.create_order "
    "-H 'content-type: application/json' "
    '-d \'{"status": 409, "count": 1, "retryable": false, "message": "application frozen"}\''
)


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def render(world: World, *, token_required: bool) -> str:
    apps = [
        (name, ", ".join(f"{p.name} {p.status}" for p in pods))
        for name, pods in sorted(world.apps.items())
    ]
    orders = [
        (o.id, o.app, o.kind, o.state, f"batch {o.batch}/{o.batches}")
        for o in world.orders.values()
    ]
    faults = [(name, repr(fault)) for name, fault in sorted(world.faults.items())]
    sections = [
        "<h1>Nightwatch platform simulator</h1>",
        "<p>The bank's platforms as Nightwatch's actions see them, for the local stack and "
        "tests. Platform calls need the bearer token in <code>.nightwatch/simulator-token"
        f"</code>{' (required now)' if token_required else ''}. "
        'API reference: <a href="/docs">/docs</a>; chat messages: '
        '<a href="/chat/ops">/chat/ops</a>.</p>',
        "<h2>Platforms</h2>",
        _table(("endpoint", "what"), PLATFORMS),
        "<h2>Applications and their instances</h2>",
        _table(("app", "instances"), apps),
        "<h2>Gateway groups</h2>",
        _table(("group", "APIs"), [(g, ", ".join(sorted(a))) for g, a in world.gateway.items()]),
        "<h2>Middleware services</h2>",
        _table(("service",), [(s,) for s in world.rules]),
        "<h2>Products</h2>",
        _table(("code", "status"), sorted(world.products.items())),
        "<h2>IAM</h2>",
        _table(("mode", "reason"), [(str(world.iam["mode"]), str(world.iam["reason"] or ""))]),
        "<h2>Release orders</h2>",
        _table(("order", "app", "kind", "state", "progress"), orders) if orders else "<p>none</p>",
        "<h2>Fault switches</h2>",
        "<p><code>PUT /admin/faults/{name}</code> with <code>{status, count (-1: for ever), "
        "delay_seconds, message, retryable, stuck}</code>; <code>DELETE</code> clears it, "
        "<code>GET /admin/calls/{name}</code> counts calls, <code>POST /admin/reset</code> "
        "starts over. For example:</p>",
        f"<pre>{escape(FAULT_EXAMPLE)}</pre>",
        _table(("name", "affects"), FAULT_SWITCHES),
        "<h2>Faults set now</h2>",
        _table(("name", "fault"), faults) if faults else "<p>none</p>",
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:"
        "collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:left}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Nightwatch platform "
        f"simulator</title><style>{style}</style></head><body>{''.join(sections)}"
        "</body></html>"
    )
