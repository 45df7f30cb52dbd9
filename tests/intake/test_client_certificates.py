"""The intake over TLS with client certificates: Alertmanager's `tls_config` client cert
authenticates it by itself; a sender without a certificate is refused at the handshake."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from temporalio.testing import WorkflowEnvironment

from tests.intake.conftest import am_payload
from tests.support import free_port, wait_until


@pytest.fixture
def tls_intake(
    engine_db: str, dev_env: WorkflowEnvironment, tmp_path: Path
) -> Iterator[tuple[str, trustme.CA, Path]]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client = ca.issue_cert("alertmanager@monitoring")
    client.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    port = free_port()
    temporal = dev_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "DATABASE_URL": engine_db,
        "NIGHTWATCH_TEMPORAL_ADDRESS": temporal,
        "NIGHTWATCH_TASK_QUEUE": "tls",
        "NIGHTWATCH_INTAKE_TLS_CERT": str(tmp_path / "server.pem"),
        "NIGHTWATCH_INTAKE_TLS_KEY": str(tmp_path / "server.pem"),
        "NIGHTWATCH_INTAKE_TLS_CLIENT_CA": str(tmp_path / "ca.pem"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "nightwatch", "intake", "--port", str(port)], env=env
    )
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    context.load_cert_chain(str(tmp_path / "client.pem"))

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", verify=context, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=60, what="the intake on TLS")
        yield url, ca, tmp_path
    finally:
        process.terminate()
        process.wait(30)


def test_a_client_certificate_authenticates_alertmanager(
    tls_intake: tuple[str, trustme.CA, Path],
) -> None:
    url, _, files = tls_intake
    with_cert = ssl.create_default_context(cafile=str(files / "ca.pem"))
    with_cert.load_cert_chain(str(files / "client.pem"))
    taken = httpx.post(
        f"{url}/alerts/alertmanager", json=am_payload(), verify=with_cert, timeout=30
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["outcomes"][0]["outcome"] == "UNROUTED"  # taken; no rule routes it
    without = ssl.create_default_context(cafile=str(files / "ca.pem"))
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"{url}/alerts/alertmanager", json=am_payload(), verify=without, timeout=30)
    stranger = trustme.CA().issue_cert("someone-else")
    stranger.private_key_and_cert_chain_pem.write_to_path(str(files / "stranger.pem"))
    foreign = ssl.create_default_context(cafile=str(files / "ca.pem"))
    foreign.load_cert_chain(str(files / "stranger.pem"))
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"{url}/alerts/alertmanager", json=am_payload(), verify=foreign, timeout=30)
