"""Every process's /metrics, scraped by a real Prometheus (Debian's package) from the local
stack: the series exist with the labels the dashboards and alert rules use, the Temporal
SDK's own among them; a scrape without the metrics token is refused."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.intake.conftest import am_payload
from tests.nightwatch.conftest import StackEnv
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow

# series -> labels each must carry (a label the dashboard or an alert rule reads).
EXPECTED = {
    'nightwatch_executions_started_total{plan="loan-api overload",trigger="OPERATOR"}': "api",
    'nightwatch_executions_finished_total{plan="loan-api overload",state="SUCCEEDED"}': "worker",
    'nightwatch_step_duration_seconds_count{action="APP_SCALE_OUT",outcome="succeeded"}': "worker",
    'nightwatch_decisions_total{kind="CONFIRM"}': "api",
    'nightwatch_decisions_total{kind="FILL"}': "api",
    "nightwatch_inspection_results_total"
    '{plan="platform-health",check="pods",outcome="FAIL"}': "worker",
    'nightwatch_intake_alerts_total{source="alertmanager"}': "intake",
    'nightwatch_intake_refused_total{status="401"}': "intake",
}


def _prometheus(config: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus is missing: `make test` installs it")
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def test_prometheus_scrapes_every_process_of_the_stack(stack: StackEnv, tmp_path: Path) -> None:
    up = stack.run("up", "--detach", "--demo")
    assert up.returncode == 0, up.stderr
    api = f"http://127.0.0.1:{stack.env['NIGHTWATCH_API_PORT']}"
    intake = f"http://127.0.0.1:{stack.env['NIGHTWATCH_INTAKE_PORT']}"
    worker = f"http://127.0.0.1:{stack.env['NIGHTWATCH_WORKER_METRICS_PORT']}"
    token_file = stack.home / "metrics-token"
    token = token_file.read_text().strip()
    for base in (api, intake, worker):
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401, base
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.get(f"{base}/metrics", headers=wrong, timeout=10).status_code == 403, base
    page = httpx.get(f"{api}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert "# HELP nightwatch_waiting_for_person " in page.text

    # An alert through the intake, and one refused for want of credentials.
    secrets = json.loads((stack.home / "intake-secrets.json").read_text())
    alert_token = secrets["NIGHTWATCH_ALERT_TOKENS"].split(",")[0]
    payload = am_payload()
    taken = httpx.post(
        f"{intake}/alerts/alertmanager",
        json=payload,
        headers={"Authorization": f"Bearer {alert_token}"},
        timeout=30,
    )
    assert taken.status_code == 200, taken.text
    assert httpx.post(f"{intake}/alerts/alertmanager", json=payload, timeout=30).status_code == 401

    port = free_port()
    config = tmp_path / "prometheus.yml"
    jobs = {"api": api, "intake": intake, "worker": worker}
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
        + "".join(
            f"  - job_name: {job}\n"
            f"    authorization: {{credentials_file: {token_file}}}\n"
            f"    static_configs: [{{targets: ['{base.removeprefix('http://')}']}}]\n"
            for job, base in jobs.items()
        )
    )
    prometheus = _prometheus(config, tmp_path / "tsdb", port, tmp_path / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    try:
        missing = list(EXPECTED)

        def scraped() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                missing[:] = [
                    series
                    for series, job in EXPECTED.items()
                    if not _query(url, series.replace("{", f'{{job="{job}",', 1))
                ]
            return not missing

        log = tmp_path / "prometheus.log"
        try:
            wait_until(scraped, timeout=90, what="every series scraped")
        except AssertionError:
            raise AssertionError(f"not scraped: {missing}\n{log.read_text()[-2000:]}") from None
        targets = _query(url, "up")
        assert sorted((t["metric"]["job"], t["value"][1]) for t in targets) == [
            ("api", "1"),
            ("intake", "1"),
            ("worker", "1"),
        ]
        sdk = _query(url, 'count({job="worker", __name__=~"temporal_.+"})')
        assert sdk and int(sdk[0]["value"][1]) > 0, "the Temporal SDK's metrics are missing"
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
