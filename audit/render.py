"""The audit report as JSON, Markdown or HTML (`nightwatch audit EXEC -f md|json|html`)."""

from __future__ import annotations

import html
import json
from typing import Any


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)


def _short(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return str(value)


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of the report as (title, header, rows): markdown and HTML render these."""
    plan, trigger, outcome = report["plan"], report["trigger"], report["outcome"]
    summary = [
        ["Execution", report["execution_id"]],
        [
            "Plan",
            f"{plan.get('name')} (id {plan.get('id')}, version {plan.get('version')}, "
            f"{plan.get('scene')})",
        ],
        ["State", str(outcome["state"])],
        ["Started", str(outcome["started_at"])],
        ["Ended", str(outcome["ended_at"])],
        ["Duration (s)", _short(outcome["duration_seconds"])],
        ["Error", _short(outcome["error"])],
        ["Trigger", f"{trigger.get('kind')} by {trigger.get('by')}"],
        ["Trigger details", _short(trigger.get("details"))],
        ["Overrides at start", _short(trigger.get("overrides"))],
        [
            "History",
            f"{report['history']['source']}: "
            + ", ".join(
                f"{w['workflow_id']} ({w['events']} events, {w['closed'] or 'open'})"
                for w in report["history"]["workflows"]
            ),
        ],
        [
            "Archived",
            ", ".join(
                f"{a['workflow_id']} sha256 {a['sha256'][:16]}…"
                for a in report["history"]["archived"]
            )
            or "not yet",
        ],
        [
            "Database and history",
            "agree" if report["agrees"] else f"DISAGREE in {len(report['differences'])} place(s)",
        ],
    ]
    alert = trigger.get("alert")
    if alert:
        summary.append(
            [
                "Alert",
                f"{alert['alert']} ({alert['source']}, {alert['severity']}) "
                f"labels {_short(alert['labels'])}",
            ]
        )
    if trigger.get("alert_resolved_at"):
        summary.append(["Alert resolved", trigger["alert_resolved_at"]])
    nodes = [
        [
            n["key"],
            _short(n["name"]),
            _short(n["action"]),
            _short(n["state"]),
            _short(n["params"]),
            _short(n["attempts"]),
            _short(n["started_at"]),
            _short(n["ended_at"]),
            _short(n["error"]),
            _short(n["output"]),
        ]
        for n in report["nodes"]
    ]
    decisions = [
        [
            n["key"],
            d.get("action", ""),
            d.get("user", ""),
            str(d.get("at", "")),
            _short(d.get("comment")),
            _short(d.get("details")),
        ]
        for n in report["nodes"]
        for d in n["decisions"] or []
    ]
    people = [
        [
            p["at"],
            p["via"],
            p["node"],
            p["action"],
            p["user"] + (f" ({p['proven_by']})" if p.get("proven_by") else " (not proven)"),
            _short(p["comment"]),
            _short(p["values"]),
            p["outcome"],
        ]
        for p in report["people"]
    ]
    steps = [
        [
            s["node"],
            s["action"],
            _short(s["params"]),
            str(s["attempts"]),
            s["outcome"],
            _short(s["error"]),
            s["scheduled_at"],
            _short(s["ended_at"]),
        ]
        for s in report["steps"]
    ]
    differences = [
        [d["where"], _short(d["history"]), _short(d["database"])] for d in report["differences"]
    ]
    return [
        ("Summary", ["", ""], summary),
        (
            "Nodes",
            [
                "Node",
                "Name",
                "Action",
                "State",
                "Parameters",
                "Attempts",
                "Started",
                "Ended",
                "Error",
                "Output",
            ],
            nodes,
        ),
        (
            "Decisions recorded on the nodes",
            ["Node", "Decision", "By", "At", "Comment", "Details"],
            decisions,
        ),
        (
            "People's acts in the history",
            ["At", "Via", "Node", "Act", "By", "Comment", "Values", "Outcome"],
            people,
        ),
        (
            "Step activities (retries and errors)",
            ["Node", "Action", "Parameters", "Attempts", "Outcome", "Error", "Scheduled", "Ended"],
            steps,
        ),
        (
            "Where the database and the history disagree",
            ["Where", "History", "Database"],
            differences,
        ),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Audit report: {report['execution_id']}",
        "",
        f"Generated {report['generated_at']} by nightwatch audit.",
        "",
    ]
    for title, header, rows in _sections(report):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    plan = report["plan"].get("snapshot")
    if plan:
        lines += [
            "## The plan as it ran (snapshot)",
            "",
            "```json",
            json.dumps(plan, indent=2, default=str),
            "```",
            "",
        ]
    return "\n".join(lines)


def as_html(report: dict[str, Any]) -> str:
    e = html.escape
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Audit report {e(report['execution_id'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;"
        "vertical-align:top;font-size:13px}th{background:#eee}.bad{color:#b00}</style>",
        f"</head><body><h1>Audit report: {e(report['execution_id'])}</h1>",
        f"<p>Generated {e(report['generated_at'])} by nightwatch audit.</p>",
    ]
    if not report["agrees"]:
        out.append("<p class='bad'><strong>The database and the history disagree.</strong></p>")
    for title, header, rows in _sections(report):
        out.append(f"<h2>{e(title)}</h2>")
        if not rows:
            out.append("<p>None.</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        out.append("</table>")
    plan = report["plan"].get("snapshot")
    if plan:
        out.append(
            "<h2>The plan as it ran (snapshot)</h2><pre>"
            f"{e(json.dumps(plan, indent=2, default=str))}</pre>"
        )
    out.append("</body></html>")
    return "\n".join(out)


RENDERERS = {"md": as_markdown, "json": as_json, "html": as_html}
