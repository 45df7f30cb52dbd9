"""The screenshots in docs/console.md, taken from the real console in Debian's Chromium:

    python -m tests.console.screenshots            # writes docs/console/*.png

It starts what the browser tests start (PostgreSQL, the Temporal dev server, a worker, the
simulator, the API), seeds events from each source, runs a plan up to a step that waits for
a person, and photographs each page in English (and the dashboard in Chinese).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from bench.support import fresh_database, postgres_server
from runtime.init_tasks import INIT_TASKS
from runtime.initialisation import InitContext, run_tasks
from runtime.worker import build_worker
from simulator.app import create_app as simulator_app
from storage import migrate
from tests.conftest import SIMULATOR_TOKEN, point_at_simulator
from tests.console.conftest import CHROMIUM, FLAGS, PASSWORD, PLAN, _accounts
from tests.console.test_console import _seed
from tests.support import bearer, dev_server, serve, served_api, token_for

OUT = Path(__file__).parents[2] / "docs" / "console"


async def shoot(page: Page, name: str) -> None:
    await page.wait_for_selector("body[data-ready]")
    await asyncio.sleep(0.5)  # the chart's first frame
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"docs/console/{name}.png")


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(),
        postgres_server() as server,
        fresh_database(server) as db,
        serve(simulator_app(token=SIMULATOR_TOKEN, step_seconds=0.3)) as simulator,
    ):
        migrate.upgrade(db)
        run_tasks(db, INIT_TASKS, InitContext("0.1.0", "docs", "docs:1"))
        point_at_simulator(db, simulator)
        _accounts(db)
        ids = _seed(db)
        env = await dev_server()
        address = env.client.service_client.config.target_host
        try:
            async with build_worker(env.client, "docs", db), async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                with (
                    served_api(db, address, task_queue="docs", cookie_secure=False) as url,
                    httpx.Client(
                        base_url=url, headers=bearer(token_for(db, "root", ["admin"]))
                    ) as admin,
                ):
                    await asyncio.to_thread(admin.post, "/api/v1/plans", json=PLAN)
                    context = await browser.new_context(
                        locale="en-US",
                        timezone_id="Asia/Shanghai",
                        viewport={"width": 1360, "height": 900},
                    )
                    page = await context.new_page()
                    await page.goto(f"{url}/console/sign-in")
                    await shoot(page, "sign-in")
                    await page.get_by_label("Username").fill("wang.ops")
                    await page.get_by_label("Password").fill(PASSWORD)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_url(f"{url}/console/")
                    await shoot(page, "dashboard")
                    await page.goto(f"{url}/console/events/{ids['alert']}")
                    form = page.locator("form#acknowledge")
                    await form.get_by_label("Comment").fill("on it: payment pods")
                    await form.get_by_role("button", name="Acknowledge").click()
                    await page.wait_for_selector('li[data-kind="ACKNOWLEDGED"]')
                    await shoot(page, "event")
                    await page.goto(f"{url}/console/events/{ids['proposed']}")
                    await shoot(page, "event-proposed")
                    await page.get_by_role("button", name="Start the proposed plan").click()
                    execution = f"proposed-{ids['proposed']}"
                    await page.wait_for_url(f"{url}/console/executions/{execution}")
                    await page.wait_for_selector("text=WAITING_CONFIRMATION")
                    await page.goto(f"{url}/console/inbox")
                    await shoot(page, "inbox")
                    await page.get_by_role("button", name="Confirm").click()
                    fill = page.get_by_test_id(f"fill-{execution}-2")
                    await fill.get_by_label("Pods").fill("500")
                    await fill.get_by_role("button", name="Fill in").click()
                    await fill.locator('[data-error-for="pods"]:not(:empty)').wait_for()
                    await shoot(page, "inbox-refusal")
                    await page.goto(f"{url}/console/executions/{execution}")
                    await shoot(page, "execution")
                    await page.goto(f"{url}/console/executions")
                    await shoot(page, "executions")
                    await page.goto(f"{url}/console/plans")
                    await shoot(page, "plans")
                    await page.get_by_role("link", name="loan-api overload").click()
                    await shoot(page, "plan")
                    await page.goto(f"{url}/console/inspections")
                    await shoot(page, "inspections")
                    await page.goto(f"{url}/console/language/zh?back=/console/")
                    await shoot(page, "dashboard-zh")
                    await browser.close()
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
