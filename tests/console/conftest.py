"""The console in a real browser: Debian's Chromium driven by Playwright (no browser
download), against the API served over real HTTP with a real worker and Temporal."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from identity import accounts
from identity.model import Role
from runtime.worker import build_worker
from storage.db import session_factory
from tests.support import bearer, served_api, token_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery staple 42"
AXE = (
    Path(__file__).parents[2] / "console" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
)
# The flags a headless Chromium needs on a machine with no network beyond localhost.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PLAN = {
    "format": "nightwatch/v1",
    "name": "loan-api overload",
    "description": "Confirm, scale loan-api out by the pods a person fills in, tell the channel.",
    "scene": "EMERGENCY",
    "steps": [
        {
            "name": "tell the channel first",
            "action": "NOTIFY",
            "params": {"channel": "ops", "message": "scaling loan-api out"},
            "strategy": {"preConfirm": True},
        },
        {
            "name": "scale out loan-api",
            "action": "APP_SCALE_OUT",
            "params": {"app": "loan-api", "batch_size": 2},
            "pending": ["pods"],
        },
        {
            "name": "report",
            "action": "NOTIFY",
            "params": {"channel": "ops", "message": "loan-api scaled out"},
        },
    ],
}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(os.path.exists, CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield found
        finally:
            await found.close()


@dataclass
class Console:
    url: str
    db: str
    admin: httpx.Client
    errors: list[str] = field(default_factory=list)

    async def page(self, browser: Browser, user: str, *, lang: str = "en-US") -> Page:
        """A new browser context signed in as `user` through the sign-in page; every
        console error and failed request of its pages is kept in `errors`."""
        context = await browser.new_context(locale=lang, timezone_id="Asia/Shanghai")
        page = await context.new_page()
        page.set_default_timeout(15_000)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        await page.goto(f"{self.url}/console/")
        assert "/console/sign-in" in page.url, page.url
        await page.get_by_label("Username").fill(user)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{self.url}/console/")
        return page


def _accounts(db: str) -> None:
    with session_factory(db)() as session:
        accounts.create(
            session, "wang.ops", PASSWORD, frozenset({Role.OPERATOR, Role.APPROVER}), by="tests"
        )
        accounts.create(session, "zhao.view", PASSWORD, frozenset({Role.VIEWER}), by="tests")
        session.commit()


@pytest_asyncio.fixture(loop_scope="session")
async def console(
    dev_env: WorkflowEnvironment, engine_db: str, task_queue: str
) -> AsyncIterator[Console]:
    """The API (and its console) over a database with a plan, two people and a worker."""
    _accounts(engine_db)
    address = dev_env.client.service_client.config.target_host
    async with build_worker(dev_env.client, task_queue, engine_db):
        with (
            served_api(engine_db, address, task_queue=task_queue, cookie_secure=False) as url,
            httpx.Client(
                base_url=url, timeout=30, headers=bearer(token_for(engine_db, "root", ["admin"]))
            ) as admin,
        ):
            await asyncio.to_thread(admin.post, "/api/v1/plans", json=PLAN)
            yield Console(url, engine_db, admin)


@pytest.fixture
def axe_source() -> Iterator[str]:
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` runs npm ci in console/frontend")
    yield AXE.read_text()


async def axe_serious(page: Page, source: str) -> list[dict[str, Any]]:
    """What axe-core finds serious or critical on the page (WCAG 2 A and AA rules)."""
    await page.evaluate(source)  # through the DevTools protocol: the page's CSP still holds
    result = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
