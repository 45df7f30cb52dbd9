"""The risk dashboard's API: counts, trend, the filtered list, acting on events and the
timeline that records who did what."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg

from tests.api.conftest import EVERY_ROLE
from tests.support import bearer, cli, libpq_url, seed_events, token_for

SEED = [
    {
        "source": "alertmanager",
        "name": "PaymentLatencyHigh",
        "severity": "critical",
        "resource": "app:payment",
        "hours_ago": 1,
    },
    {"source": "grafana", "name": "DiskAlmostFull", "severity": "warning", "hours_ago": 30},
    {
        "source": "inspection",
        "name": "core-banking endpoints",
        "severity": "critical",
        "resource": "url:https://core.bank/health",
        "hours_ago": 2,
    },
    {
        "source": "diagnosis",
        "name": "Slow queries on ledger",
        "severity": "info",
        "state": "ACKNOWLEDGED",
        "hours_ago": 50,
    },
    {
        "source": "generic",
        "name": "OldAndDone",
        "severity": "warning",
        "state": "RESOLVED",
        "hours_ago": 200,
    },
]


def test_counts_trend_and_the_filtered_list(api: httpx.Client, engine_db: str) -> None:
    ids = seed_events(engine_db, SEED)
    counts = api.get("/api/v1/risk-events/summary").raise_for_status().json()
    assert counts["unresolved"] == 4
    assert counts["by_source"] == {"alert": 2, "inspection": 1, "diagnosis": 1}
    assert list(counts["by_severity"]) == ["critical", "warning", "info"]  # most urgent first
    assert counts["by_state"] == {"OPEN": 3, "ACKNOWLEDGED": 1}

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the trend's days are its zone's
    trend = (
        api.get(
            "/api/v1/risk-events/trend",
            params={
                "from": str(today - timedelta(days=9)),
                "to": str(today),
                "tz": "Asia/Shanghai",
            },
        )
        .raise_for_status()
        .json()
    )
    assert len(trend["days"]) == 10
    assert sum(sum(d["by_severity"].values()) for d in trend["days"]) == 5
    assert trend["severities"][0] == "critical"

    page = api.get("/api/v1/risk-events", params={"source": ["inspection", "diagnosis"]}).json()
    assert [e["id"] for e in page["events"]] == [ids[2], ids[3]]  # newest first
    by_text = api.get("/api/v1/risk-events", params={"q": "LATENCY"}).json()
    assert [e["id"] for e in by_text["events"]] == [ids[0]]
    both = api.get(
        "/api/v1/risk-events", params={"severity": "critical", "state": "OPEN", "sort": "oldest"}
    ).json()
    assert [e["id"] for e in both["events"]] == [ids[2], ids[0]]
    first = api.get("/api/v1/risk-events", params={"limit": 2}).json()
    second = api.get("/api/v1/risk-events", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == 5 and first["next_offset"] == 2 and not first["total_capped"]
    assert {e["id"] for e in first["events"]}.isdisjoint({e["id"] for e in second["events"]})
    recent = api.get(
        "/api/v1/risk-events",
        params={"since": (datetime.now(UTC) - timedelta(hours=3)).isoformat()},
    ).json()
    assert {e["id"] for e in recent["events"]} == {ids[0], ids[2]}


def test_bad_filters_name_the_field(api: httpx.Client) -> None:
    for params, path in (
        ({"since": "2026-12-07T08:00:00"}, "since"),
        ({"source": "pager"}, "source"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ):
        url = "/api/v1/risk-events/trend" if "tz" in params else "/api/v1/risk-events"
        answer = api.get(url, params=params)
        assert answer.status_code == 422, answer.text
        assert path in answer.json()["path"], answer.json()


def test_acknowledge_shelve_resolve_and_the_timeline(
    api: httpx.Client, engine_db: str, api_url: str
) -> None:
    [event, other] = seed_events(engine_db, SEED[:2])
    acked = api.post(f"/api/v1/risk-events/{event}/acknowledge", json={"comment": "looking"})
    assert acked.json()["state"] == "ACKNOWLEDGED" and acked.json()["acknowledged_by"] == "li.wei"

    past = api.post(
        f"/api/v1/risk-events/{event}/shelve",
        json={"until": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()},
    )
    assert past.status_code == 422 and past.json()["path"] == "until"
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    shelved = api.post(f"/api/v1/risk-events/{event}/shelve", json={"until": soon})
    assert shelved.json()["state"] == "SHELVED"
    # The shelf time passes: the next read finds the event open again, and says why.
    with psycopg.connect(libpq_url(engine_db), autocommit=True) as conn:
        conn.execute(
            "update risk_event set shelved_until = now() - interval '1 second' where id = %s",
            (event,),
        )
    story = api.get(f"/api/v1/risk-events/{event}").raise_for_status().json()
    assert story["event"]["state"] == "OPEN"

    silent = api.post(f"/api/v1/risk-events/{event}/resolve", json={})
    assert silent.status_code == 422 and silent.json()["path"] == "comment"
    done = api.post(f"/api/v1/risk-events/{event}/resolve", json={"comment": "disk replaced"})
    assert done.json()["state"] == "RESOLVED" and done.json()["resolved_by"] == "li.wei"
    again = api.post(f"/api/v1/risk-events/{event}/acknowledge", json={})
    assert again.status_code == 409 and again.json()["error"] == "WrongState"

    story = api.get(f"/api/v1/risk-events/{event}").json()
    kinds = [(i["kind"], i["actor"]) for i in story["timeline"]]
    assert kinds == [
        ("RECEIVED", "alertmanager"),
        ("ACKNOWLEDGED", "li.wei"),
        ("SHELVED", "li.wei"),
        ("UNSHELVED", "nightwatch"),
        ("RESOLVED", "li.wei"),
    ], kinds
    assert story["timeline"][1]["comment"] == "looking"
    assert story["timeline"][-1]["comment"] == "disk replaced"
    assert story["timeline"][-1]["proven_by"]  # the proven identity's way in

    bulk = api.post(
        "/api/v1/risk-events/bulk",
        json={"ids": [event, other, 999999], "action": "acknowledge", "comment": "night shift"},
    ).json()
    assert bulk == {"changed": [other], "skipped": [event], "not_found": [999999]}


def test_a_viewer_reads_but_cannot_act(api_url: str, engine_db: str) -> None:
    [event] = seed_events(engine_db, SEED[:1])
    viewer = bearer(token_for(engine_db, "zhao.viewer", ["viewer"]))
    with httpx.Client(base_url=api_url, headers=viewer, timeout=30) as client:
        assert client.get(f"/api/v1/risk-events/{event}").status_code == 200
        refused = client.post(f"/api/v1/risk-events/{event}/acknowledge", json={})
        assert refused.status_code == 403
        bulk = client.post(
            "/api/v1/risk-events/bulk", json={"ids": [event], "action": "resolve", "comment": "x"}
        )
        assert bulk.status_code == 403
    with psycopg.connect(libpq_url(engine_db)) as conn:
        row = conn.execute("select state from risk_event where id = %s", (event,)).fetchone()
        entries = conn.execute("select count(*) from risk_event_entry").fetchone()
    assert row == ("OPEN",) and entries == (0,)
    assert EVERY_ROLE  # li.wei (every role) is the other fixtures' caller


def test_the_cli_reads_and_acts_through_the_same_api(
    api_url: str, engine_db: str, tmp_path: Path
) -> None:
    [event, _] = seed_events(engine_db, SEED[:2])
    token = token_for(engine_db, "li.wei", EVERY_ROLE)
    nightwatch = cli(engine_db, tmp_path, "risk", api=(api_url, token))
    listed = nightwatch("list", "--severity", "critical")
    assert listed.returncode == 0, listed.stderr
    assert "PaymentLatencyHigh" in listed.stdout and "DiskAlmostFull" not in listed.stdout
    assert "1 events match" in listed.stdout
    shelved = nightwatch("shelve", str(event), "--for", "2h", "-m", "change window")
    assert shelved.returncode == 0 and "SHELVED" in shelved.stdout, shelved.stderr
    wrong = nightwatch("shelve", str(event), "--for", "soon")
    assert wrong.returncode != 0 and "--for" in wrong.stderr and "Traceback" not in wrong.stderr
    resolved = nightwatch("resolve", str(event), "-m", "fixed upstream")
    assert "RESOLVED" in resolved.stdout, resolved.stderr
    shown = nightwatch("show", str(event))
    assert "SHELVED" in shown.stdout and "fixed upstream" in shown.stdout
    summary = nightwatch("summary", "--json")
    assert json.loads(summary.stdout)["unresolved"] == 1
