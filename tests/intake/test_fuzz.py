"""The intake's OpenAPI document, fuzzed with schemathesis over real HTTP: no request
(valid, invalid or odd) gets a 5xx while the database and Temporal are up."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from nightwatch.config import load_settings
from tests.intake.conftest import GRAFANA_SECRET, TOKENS, WEBHOOK_SECRET
from tests.support import HOSTILE_BODIES, Say, digest, send_fixed_set, serve, token_for

EVERY_ROLE = ["viewer", "operator", "approver", "admin"]

EXAMPLES = 50
# New examples on every local run; the same ones under CI=true (as tests/faults/test_bad_input.py).
DERANDOMIZE = bool(os.environ.get("CI"))


@pytest.fixture
def intake_url(engine_db: str, dev_env: WorkflowEnvironment) -> Iterator[str]:
    address = dev_env.client.service_client.config.target_host
    current = load_settings(
        database_url=engine_db,
        temporal_address=address,
        task_queue="fuzz",
        alert_tokens=TOKENS,
        alert_grafana_secrets=GRAFANA_SECRET,
        alert_webhook_secrets=WEBHOOK_SECRET,
        alert_max_body_bytes=64 * 1024,
    )
    with serve(create_app(current)) as url:
        yield url


def test_no_request_gets_a_server_error(intake_url: str, engine_db: str, say: Say) -> None:
    schema = schemathesis.openapi.from_url(f"{intake_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result}"
        operations.append(result.ok())
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /alerts/alertmanager",
        "POST /alerts/grafana",
        "POST /alerts/generic",
        "GET /api/v1/risk-events",
        "PUT /api/v1/alert-rules/{name}",
    }
    failures: list[str] = []
    tried = refused = 0
    # A person's token with every role (used once first: its first use is a write).
    person = {"authorization": f"Bearer {token_for(engine_db, 'fuzzer', EVERY_ROLE)}"}
    assert httpx.get(f"{intake_url}/api/v1/risk-events", headers=person).status_code == 200
    for operation in operations:
        # With the Alertmanager token and a person's, so operations are exercised past
        # authentication.
        headers = st.sampled_from([{}, {"authorization": "Bearer first-token"}, person])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), extra=headers)
        def call(case: Any, extra: dict[str, str]) -> None:
            nonlocal tried, refused
            before = digest(engine_db)
            response = case.call(base_url=intake_url, headers=extra, timeout=30)
            tried += 1
            refused += 400 <= response.status_code < 500
            if 400 <= response.status_code < 500 and digest(engine_db) != before:
                failures.append(
                    f"{case.method} {case.formatted_path}: "
                    f"{response.status_code} but the database changed"
                )
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]} for {case.body!r:.300}"
                )

        call()
    bearer = {"authorization": "Bearer first-token"}
    fixed = [("POST", "/alerts/alertmanager", bearer, body) for body in HOSTILE_BODIES]
    fixed += [
        ("POST", "/alerts/alertmanager", bearer, _alert_starting(at).encode())
        for at in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00")
    ]
    fixed += [("PUT", "/api/v1/alert-rules/x", person, body) for body in HOSTILE_BODIES]
    sent, wrong = send_fixed_set(intake_url, fixed, engine_db)
    assert failures + wrong == []
    say(
        f"intake: {tried} random requests over {len(operations)} operations, {refused} "
        f"refused, and {sent} of the fixed set; none a 5xx, none refused after writing anything"
    )


def _alert_starting(at: str) -> str:
    alert = {"status": "firing", "labels": {"alertname": "X"}, "startsAt": at}
    return json.dumps(
        {"version": "4", "receiver": "r", "status": "firing", "groupKey": "g", "alerts": [alert]}
    )


def test_openapi_document_matches_the_committed_one(intake_url: str) -> None:
    from pathlib import Path

    import httpx

    served = httpx.get(f"{intake_url}/openapi.json", timeout=10).json()
    committed = json.loads((Path(__file__).parents[2] / "docs" / "intake-openapi.json").read_text())
    assert served == committed, (
        "the intake's API changed: check it stays backward compatible, then regenerate with "
        "`nightwatch intake --openapi > docs/intake-openapi.json`"
    )
