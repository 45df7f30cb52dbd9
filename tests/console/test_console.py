"""The operator console in Debian's Chromium: sign in, the dashboard with events from each
source, filters and pages, acknowledging an event, starting its proposed plan, confirming
and filling in from the inbox (a wrong value refused on its field), the execution finishing
live, a viewer without buttons whose forged POST is refused, Chinese. Every page: no
console error, no serious accessibility violation (axe-core)."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.console.conftest import Console, axe_serious
from tests.support import bearer, libpq_url, seed_events, token_for

pytestmark = [pytest.mark.browser, pytest.mark.devserver]


def _seed(db: str) -> dict[str, int]:
    """Events from each source, one with a proposed plan, and enough to fill two pages."""
    with psycopg.connect(libpq_url(db), autocommit=True) as conn:  # ids unique on the server
        conn.execute(
            f"alter table risk_event alter column id restart with {random.randrange(10**6, 10**9)}"
        )
    named = [
        {
            "source": "alertmanager",
            "name": "PaymentLatencyHigh",
            "severity": "critical",
            "resource": "app:payment",
            "hours_ago": 0.5,
        },
        {
            "source": "inspection",
            "name": "core-banking endpoints",
            "severity": "critical",
            "resource": "url:https://core.bank/health",
            "hours_ago": 0.6,
        },
        {
            "source": "diagnosis",
            "name": "Slow ledger queries",
            "severity": "info",
            "hours_ago": 0.7,
        },
        {
            "source": "alertmanager",
            "name": "LoanApiOverload",
            "severity": "warning",
            "plan": "loan-api overload",
            "outcome": "PROPOSED",
            "hours_ago": 0.1,
        },
    ]
    filler = [
        {"source": "grafana", "name": f"DiskUsage{n}", "severity": "warning", "hours_ago": 3 + n}
        for n in range(28)
    ]
    ids = seed_events(db, named + filler)
    return {"alert": ids[0], "inspection": ids[1], "diagnosis": ids[2], "proposed": ids[3]}


async def _clean(page: Page, console: Console, axe: str) -> None:
    """The page rendered without console errors and without serious a11y violations."""
    await expect(page.locator("body[data-ready]")).to_have_count(1)
    assert console.errors == [], console.errors
    assert await axe_serious(page, axe) == [], page.url


async def test_an_operator_works_an_event_from_the_dashboard_to_a_finished_plan(
    browser: Browser, console: Console, axe_source: str
) -> None:
    ids = _seed(console.db)
    page = await console.page(browser, "wang.ops")
    await expect(page.get_by_test_id("unresolved")).to_have_text("32")
    for source in ("alert", "inspection", "diagnosis"):
        await expect(page.get_by_test_id(f"source-{source}")).to_be_visible()
    await expect(page.locator("canvas#trend")).to_have_attribute("aria-label", re.compile("32"))
    await _clean(page, console, axe_source)

    # Filters live in the URL; pages follow them.
    await page.get_by_role("checkbox", name="inspection").check()
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r"source=inspection"))
    rows = page.locator("table.events tbody tr[data-event]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-event", str(ids["inspection"]))
    await page.goto(f"{console.url}/console/?sort=newest")
    await expect(rows).to_have_count(25)
    await page.get_by_role("link", name="Next").click()
    await page.wait_for_url(re.compile(r"page=2"))
    await expect(rows).to_have_count(7)
    await page.goto(f"{console.url}/console/?q=latency")
    await expect(rows).to_have_count(1)

    # Acknowledge with a comment: the state and the comment persist and show in the timeline.
    await page.goto(f"{console.url}/console/events/{ids['alert']}")
    await _clean(page, console, axe_source)
    acknowledge = page.locator("form#acknowledge")
    await acknowledge.get_by_label("Comment").fill("on it, checking the payment pods")
    await acknowledge.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_test_id("event-state")).to_contain_text("ACKNOWLEDGED")
    entry = page.locator('li[data-kind="ACKNOWLEDGED"]')
    await expect(entry).to_contain_text("wang.ops")
    await expect(entry).to_contain_text("on it, checking the payment pods")
    with psycopg.connect(libpq_url(console.db)) as conn:
        stored = conn.execute(
            "select e.state, e.acknowledged_by, n.comment from risk_event e join "
            "risk_event_entry n on n.risk_event_id = e.id where e.id = %s",
            (ids["alert"],),
        ).fetchall()
    assert stored == [("ACKNOWLEDGED", "wang.ops", "on it, checking the payment pods")]

    # Start the proposed plan from its event: the execution's page opens.
    await page.goto(f"{console.url}/console/events/{ids['proposed']}")
    await expect(page.locator("form#start-plan select")).to_have_value("loan-api overload")
    await page.get_by_role("button", name="Start the proposed plan").click()
    execution = f"proposed-{ids['proposed']}"
    await page.wait_for_url(f"{console.url}/console/executions/{execution}")
    await expect(page.get_by_test_id("node-1")).to_contain_text("WAITING_CONFIRMATION")
    await _clean(page, console, axe_source)

    # A second tab stays on the execution's page: it must follow the run by itself.
    watcher = await page.context.new_page()
    await watcher.goto(f"{console.url}/console/executions/{execution}")

    # The inbox: confirm the first step, then fill in the pods the second waits for.
    await page.goto(f"{console.url}/console/inbox")
    waiting = page.get_by_test_id(f"waiting-{execution}-1")
    await _clean(page, console, axe_source)
    await waiting.get_by_role("button", name="Confirm").click()
    fill = page.get_by_test_id(f"fill-{execution}-2")
    await expect(fill).to_be_visible()
    await fill.get_by_label("Pods").fill("500")
    await fill.get_by_role("button", name="Fill in").click()
    refusal = fill.locator('[data-error-for="pods"]')
    await expect(refusal).to_contain_text(re.compile("200|less than", re.I))
    await expect(fill.get_by_label("Pods")).to_have_attribute("aria-invalid", "true")
    # Chromium logs every refused request itself; this refusal is the one we asked for.
    assert [e for e in console.errors if "status of 422" not in e] == [], console.errors
    console.errors.clear()
    await fill.get_by_label("Pods").fill("2")
    await fill.get_by_role("button", name="Fill in").click()
    await expect(page.get_by_test_id("inbox-empty")).to_be_visible()

    # The watching tab saw the run through to the end without being reloaded.
    await expect(watcher.get_by_test_id("execution-state")).to_contain_text(
        "SUCCEEDED", timeout=60_000
    )
    await expect(watcher.get_by_test_id("node-2")).to_contain_text("SUCCEEDED")
    await expect(watcher.locator("#tree[data-live]")).to_have_count(0)  # polling stopped
    assert console.errors == [], console.errors

    # The event tells the whole story: the start, the decisions and who made them.
    await page.goto(f"{console.url}/console/events/{ids['proposed']}")
    await expect(page.locator('li[data-kind="EXECUTION_STARTED"]')).to_contain_text("wang.ops")
    await expect(page.locator('li[data-kind="DECISION"]').first).to_contain_text("wang.ops")
    await expect(page.locator('li[data-kind="EXECUTION_ENDED"]')).to_contain_text("SUCCEEDED")


async def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(
    browser: Browser, console: Console, axe_source: str
) -> None:
    ids = _seed(console.db)
    page = await console.page(browser, "zhao.view")
    await expect(page.locator("form#bulk")).to_have_count(0)
    await page.goto(f"{console.url}/console/events/{ids['proposed']}")
    await _clean(page, console, axe_source)
    await expect(page.locator("form[data-api] button")).to_have_count(1)  # sign out only
    forged = await page.evaluate(
        """async (event) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const post = (headers) => fetch(`/api/v1/risk-events/${event}/acknowledge`, {
                method: 'POST', headers: {'Content-Type': 'application/json', ...headers},
                body: '{}'}).then((r) => r.status);
            return [await post({'X-CSRF-Token': csrf}), await post({})];
        }""",
        ids["proposed"],
    )
    assert forged == [403, 403]
    with psycopg.connect(libpq_url(console.db)) as conn:
        row = conn.execute("select state from risk_event where id = %s", (ids["proposed"],))
        assert row.fetchone() == ("OPEN",)


async def test_the_console_speaks_chinese(
    browser: Browser, console: Console, axe_source: str
) -> None:
    _seed(console.db)
    page = await console.page(browser, "wang.ops")
    await page.get_by_role("link", name="中文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", level=1)).to_have_text("风险看板")
    await expect(page.get_by_role("link", name="收件箱")).to_be_visible()
    await _clean(page, console, axe_source)
    await page.goto(f"{console.url}/console/executions")
    await expect(page.get_by_role("heading", level=1)).to_have_text("执行记录")


INSPECTION = {
    "format": "nightwatch/inspection/v1",
    "name": "console-health",
    "schedule": {"every": "1h"},
    "checks": [
        {
            "name": "api",
            "kind": "http",
            "severity": "critical",
            "params": {"url": "http://127.0.0.1:9/health", "timeout_ms": 500},
        }
    ],
}


async def test_every_page_is_clean_and_accessible(
    browser: Browser, console: Console, axe_source: str
) -> None:
    """Each page of the console, in both languages: no console error, no serious
    accessibility violation, and the audit report linked from a finished execution."""
    ids = _seed(console.db)
    put = console.admin.put
    applied = await asyncio.to_thread(
        put, f"/api/v1/inspections/{INSPECTION['name']}", json=INSPECTION
    )
    assert applied.status_code in (200, 201), applied.text
    page = await console.page(browser, "wang.ops")
    pages = [
        "/console/",
        f"/console/events/{ids['inspection']}",
        f"/console/events/{ids['proposed']}",
        "/console/inbox",
        "/console/executions",
        "/console/plans",
        "/console/plans/loan-api%20overload",
        "/console/inspections",
        f"/console/inspections/{INSPECTION['name']}",
    ]
    for language in ("en", "zh"):
        await page.goto(f"{console.url}/console/language/{language}?back=/console/")
        for path in pages:
            await page.goto(f"{console.url}{path}")
            await _clean(page, console, axe_source)
    missing = await page.goto(f"{console.url}/console/events/999999999999")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("未找到")
    assert all("status of 404" in e for e in console.errors), console.errors  # the page's own
    console.errors.clear()

    # A finished execution: its page links the audit report, which tells the same story.
    await page.goto(f"{console.url}/console/language/en?back=/console/")
    execution = f"audit-{uuid.uuid4().hex[:12]}"
    headers = bearer(token_for(console.db, "wang.ops", ["operator"]))
    async with httpx.AsyncClient(base_url=console.url, headers=headers, timeout=30) as operator:
        body = {"plan": "loan-api overload", "execution_id": execution}
        run = await operator.post("/api/v1/executions", json=body)
        assert run.status_code == 201, run.text
        cancelled = await operator.post(f"/api/v1/executions/{execution}/cancel")
        assert cancelled.status_code == 202, cancelled.text
    await page.goto(f"{console.url}/console/executions/{execution}")
    await expect(page.get_by_test_id("execution-state")).to_contain_text("CANCELLED")
    await _clean(page, console, axe_source)
    await page.get_by_role("link", name="Audit report").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(execution)
