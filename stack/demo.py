"""`nightwatch up --demo`: load the example plans, then run the loan-api overload plan
against the platform simulator, acting as the duty manager: fill in how many pods to add,
confirm the scale-out, follow the release order batch by batch, and show the result; then
apply the platform-health inspection and run it once (a failed check starts a plan)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cli.api_client import Api
from intake.rules import read_rule_file, save_rule
from nightwatch.config import Settings
from plans import files, store
from plans.validation import PlanInvalid
from stack.people import ADMIN, DUTY_MANAGER, token_of
from storage import executions as execution_rows
from storage.db import session_factory
from workflows.models import ExecutionView, NodeView

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plans"
INSPECTION = "platform-health"
INSPECTIONS = EXAMPLES.parent / "inspections" / f"{INSPECTION}.yaml"
DEMO_PLAN = "loan-api overload"
DEMO_PODS = 4
DEMO_LIMIT_SECONDS = 300
Say = Callable[[str], None]


def run_demo(settings: Settings, say: Say) -> None:
    if not EXAMPLES.is_dir():
        say(f"demo      skipped: no example plans at {EXAMPLES}")
        return
    with session_factory(settings.effective_database_url)() as session:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            try:
                result = store.apply(session, files.read_file(path), by="demo")
            except PlanInvalid as error:
                session.rollback()
                say(f"demo      {path.name}: {error}")
                continue
            session.commit()
            say(f"demo      {result.outcome} plan {result.plan_id} {result.name!r}")
        rules = EXAMPLES.parent / "alert-rules.yaml"
        if rules.is_file():
            for rule in read_rule_file(rules):
                outcome, rule_id = save_rule(session, rule)
                say(f"demo      {outcome} alert rule {rule_id} {rule.name!r} -> {rule.plan!r}")
            session.commit()
    drive(settings, say)
    inspect(settings, say)
    say(
        "demo      next: nightwatch run 'night drill' --wait, then nightwatch confirm <execution> 2"
    )
    say("demo      and: nightwatch plan list | nightwatch inbox | nightwatch catalog list")
    say(f"demo      and: nightwatch inspect show {INSPECTION} | nightwatch alerts events")
    say(f"demo      the risk dashboard: http://127.0.0.1:{settings.api_port}/console/")


def drive(settings: Settings, say: Say) -> ExecutionView:
    """Run the demo plan to its end through the API, signed in as the duty manager (the
    same path as anyone: a password turned into a token), doing what they would."""
    token = token_of(settings, settings.home_dir, DUTY_MANAGER, "the demo")
    with Api(settings, token=token) as api:
        return _drive(api, settings, say)


def _drive(api: Api, settings: Settings, say: Say) -> ExecutionView:
    execution = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    api.post("/api/v1/executions", {"plan": DEMO_PLAN, "execution_id": execution})
    ui = f"http://127.0.0.1:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}"
    say(f"demo      running {DEMO_PLAN!r} as {execution}, signed in as {DUTY_MANAGER.username}")
    say(f"demo      follow it in the Web UI: {ui}/workflows/{execution}")
    say(
        f"demo      or in the console: http://127.0.0.1:{settings.api_port}/console/executions/{execution}"
    )
    started, progress = time.monotonic(), ""
    seen: dict[str, str] = {}
    nodes = f"/api/v1/executions/{execution}/nodes"
    while time.monotonic() - started < DEMO_LIMIT_SECONDS:
        view = ExecutionView.model_validate(api.get(f"/api/v1/executions/{execution}"))
        for node in view.nodes:
            line = _line(node)
            if seen.get(node.key) != line:
                seen[node.key] = line
                say(f"demo      {node.key:<3} {node.name:<30} {line}")
            if node.state == "WAITING_PARAMETERS":
                say(f"demo          as the duty manager: fill in pods={DEMO_PODS}")
                api.post(f"{nodes}/{node.key}/fill", {"values": {"pods": DEMO_PODS}})
            elif node.state == "WAITING_CONFIRMATION":
                say("demo          as the duty manager: confirm")
                api.post(f"{nodes}/{node.key}/confirm", {"comment": "demo: capacity approved"})
            elif node.state == "RUNNING":
                now = _progress(settings, execution, node.key)
                if now and now != progress:
                    progress = now
                    say(f"demo              {now}")
        if view.state not in ("RUNNING", "WAITING", "PENDING"):
            say(
                f"demo      execution {view.state} in {time.monotonic() - started:.0f} s: "
                f"nightwatch status {execution}"
            )
            return view
        time.sleep(0.5)
    say(f"demo      still running after {DEMO_LIMIT_SECONDS} s: nightwatch status {execution}")
    return view


def inspect(settings: Settings, say: Say) -> None:
    """Apply the platform-health inspection (as the admin) and run it now (as the duty
    manager): the simulator's stopped instances fail, a rule starts the self-recovery plan
    for payment-gateway, and the re-check after it says whether it fixed them."""
    if not INSPECTIONS.is_file():
        return
    document = yaml.safe_load(INSPECTIONS.read_text(encoding="utf-8"))
    admin = token_of(settings, settings.home_dir, ADMIN, "the demo's inspection")
    with Api(settings, token=admin) as api:
        applied = api.put(f"/api/v1/inspections/{INSPECTION}", document)
    say(f"demo      {applied['outcome']} inspection plan {INSPECTION!r}, every 5 minutes")
    token = token_of(settings, settings.home_dir, DUTY_MANAGER, "the demo's inspection")
    with Api(settings, token=token) as api:
        api.post(f"/api/v1/inspections/{INSPECTION}/run")
        started = time.monotonic()
        while time.monotonic() - started < 60:
            runs = api.get(f"/api/v1/inspections/{INSPECTION}/runs", params={"limit": 1})
            if runs and runs[0]["state"] == "COMPLETED":
                counts = runs[0]["counts"]
                say(
                    f"demo      inspection run {runs[0]['id']}: {counts['checks']} checks, "
                    f"{counts['passed']} passed, {counts['failed']} failed, "
                    f"{counts['events_opened']} risk events opened"
                )
                for execution in counts.get("started", []):
                    say(f"demo          a rule started self-recovery {execution}")
                    say(f"demo          {_remediation(settings, token, execution)}")
                for line in api.get(
                    f"/api/v1/inspections/{INSPECTION}/results",
                    params={"outcome": "FAIL", "limit": 5},
                ):
                    say(
                        f"demo          FAIL {line['check']} on {line['target']}: "
                        f"{'; '.join(line['failures'])[:90]}"
                    )
                return
            time.sleep(0.5)
    say(f"demo      inspection still running: nightwatch inspect show {INSPECTION}")


def _remediation(settings: Settings, token: str, execution: str) -> str:
    """What the re-check after `execution` found (the risk event's remediation note)."""
    with Api(settings, token=token, url=settings.effective_intake_url) as intake:
        started = time.monotonic()
        while time.monotonic() - started < 60:
            events = intake.get("/api/v1/risk-events", params={"source": "inspection"})
            for event in events:
                if event["execution_id"] == execution and event["remediation"]:
                    return f"re-checked when it ended: {event['remediation']}"
            time.sleep(0.5)
    return "not re-checked yet: nightwatch alerts events"


def _line(node: NodeView) -> str:
    if node.waiting_for:
        who = f" ({', '.join(node.may_act)})" if node.may_act else ""
        return f"waits for {node.waiting_for}{who}"
    if node.state == "SUCCEEDED" and node.output:
        return f"SUCCEEDED  {_summary(node.output)}"
    if node.error and node.state != "SUCCEEDED":
        return f"{node.state}  {node.error}"
    return node.state


def _summary(output: dict[str, Any]) -> str:
    if "order" in output:
        return (
            f"release order {output['order']}: {output['pods']} pods in "
            f"{output['batches']} batches, each confirmed; {output['polls']} polls, "
            f"{output['seconds']} s"
        )
    if "rule" in output:
        rule = output["rule"]
        return f"{rule['kind']} rule on {output['service']} {rule['resource']}"
    return ", ".join(f"{k}={v}" for k, v in output.items() if v is not None)[:100]


def _progress(settings: Settings, execution: str, key: str) -> str:
    """What a running step has reported so far (on its node), in words."""
    with session_factory(settings.effective_database_url)() as session:
        output = execution_rows.node_output(session, execution, int(key.rsplit(".", 1)[-1]))
    details = (output or {}).get("progress")
    if not isinstance(details, dict) or "order" not in details:
        return ""
    said = f" ({details['message']})" if details.get("message") else ""
    return (
        f"release order {details['order']}: batch {details['batch']}/{details['batches']} "
        f"{details['state']}, {details['confirmed']} confirmed{said}"
    )
