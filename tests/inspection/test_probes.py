"""Every check kind against a real peer here: HTTP(S) and TLS servers (one certificate
expiring in 3 days), a DNS server, the test PostgreSQL, a real Prometheus (Debian's
package) scraping a local exporter, and the platform simulator with faults."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest
import pytest_asyncio
import trustme
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from activities.probes import Observation, ProbeEnv, observe
from catalog.checks import CHECKS_BY_CODE
from tests.conftest import SIMULATOR_TOKEN, sim
from tests.support import free_port, libpq_url, serve, wait_until_async


async def probe(env: ProbeEnv, kind: str, **params: Any) -> Observation:
    values = CHECKS_BY_CODE[kind].params.model_validate(params)
    return await observe(kind, values, env, "run-test")


@pytest_asyncio.fixture
async def env(engine_db: str) -> AsyncIterator[ProbeEnv]:
    found = ProbeEnv(engine_db)
    yield found
    await found.aclose()


# -- HTTP(S) and TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def https_server(cert: trustme.LeafCert, status: int = 200) -> AsyncIterator[int]:
    """A TLS server answering every HTTP request with `status` and a small JSON body."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"status": "UP"}'
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


async def test_https_check_sees_status_body_json_and_days_left(
    env: ProbeEnv, ca: trustme.CA, tmp_path: Path
) -> None:
    expiring = ca.issue_cert("localhost", not_after=datetime.now(UTC) + timedelta(days=3))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with https_server(expiring, status=200) as port:
        seen = await probe(env, "http", url=f"https://localhost:{port}/health", ca_file=str(bundle))
    assert seen.error is None, seen
    observed = seen.observed
    assert observed["status"] == 200 and observed["json"] == {"status": "UP"}
    assert 2.9 < observed["cert_days"] <= 3.0
    assert observed["response_time"] > 0
    assert seen.evidence.startswith("HTTP 200 X in ")


async def test_https_with_an_untrusted_certificate_is_an_observed_error(
    env: ProbeEnv, ca: trustme.CA
) -> None:
    async with https_server(ca.issue_cert("localhost")) as port:
        seen = await probe(env, "http", url=f"https://localhost:{port}/")
    assert seen.error is not None and "CERTIFICATE_VERIFY_FAILED" in seen.error
    assert "status" not in seen.observed


async def test_tls_check_reports_days_left_and_whether_the_chain_verified(
    env: ProbeEnv, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    expiring = ca.issue_cert("localhost", not_after=datetime.now(UTC) + timedelta(days=3))
    async with https_server(expiring) as port:
        trusted = await probe(env, "tls", host="localhost", port=port, ca_file=str(bundle))
        untrusted = await probe(env, "tls", host="localhost", port=port)
    assert trusted.observed["verified"] is True and 2.9 < trusted.observed["cert_days"] <= 3
    assert "trustme" in trusted.observed["subject"]
    assert untrusted.observed["verified"] is False
    assert 2.9 < untrusted.observed["cert_days"] <= 3  # still read, without trusting it
    assert "not verified" in untrusted.observed["error"]


async def test_http_check_of_a_closed_port_and_a_slow_answer(env: ProbeEnv) -> None:
    closed = await probe(env, "http", url=f"http://127.0.0.1:{free_port()}/")
    assert closed.error is not None and "ConnectError" in closed.error
    slow_app = FastAPI()

    @slow_app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"late": "yes"}

    with serve(slow_app) as url:
        late = await probe(env, "http", url=f"{url}/slow", timeout_ms=300)
    assert late.error == "timed out"


async def test_tcp_connect(env: ProbeEnv, ca: trustme.CA) -> None:
    async with https_server(ca.issue_cert("localhost")) as port:
        opened = await probe(env, "tcp", host="127.0.0.1", port=port)
    refused = await probe(env, "tcp", host="127.0.0.1", port=free_port())
    assert opened.observed["connected"] is True and opened.error is None
    assert refused.observed["connected"] is False and refused.error


# -- DNS ----------------------------------------------------------------------------------


class _Dns(asyncio.DatagramProtocol):
    """A real DNS server on UDP: loan.bank.test A 10.1.2.3, anything else NXDOMAIN."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text() == "loan.bank.test.":
            answer.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "10.1.2.3"))
        else:
            answer.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(answer.to_wire(), addr)  # type: ignore[attr-defined]


async def test_dns_resolution_answers_and_nxdomain(env: ProbeEnv) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Dns, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        server = f"127.0.0.1:{port}"
        found = await probe(env, "dns", name="loan.bank.test", nameserver=server)
        missing = await probe(env, "dns", name="gone.bank.test", nameserver=server)
    finally:
        transport.close()
    assert (found.observed["rcode"], found.observed["answers"]) == ("NOERROR", ["10.1.2.3"])
    assert (missing.observed["rcode"], missing.observed["answers"]) == ("NXDOMAIN", [])
    silent = await probe(
        env, "dns", name="loan.bank.test", nameserver=f"127.0.0.1:{free_port()}", timeout_ms=300
    )
    assert silent.error is not None


# -- PostgreSQL ---------------------------------------------------------------------------


async def test_postgres_reachability_and_a_read_only_query(env: ProbeEnv, engine_db: str) -> None:
    dsn = libpq_url(engine_db)
    counted = await probe(env, "postgres", dsn=dsn, query="select count(*) from pre_plan_action")
    assert counted.observed["connected"] is True and counted.observed["value"] >= 20
    writing = await probe(env, "postgres", dsn=dsn, query="create table intruder (id int)")
    assert writing.observed["connected"] is True
    assert "read-only transaction" in str(writing.error)
    away = await probe(
        env, "postgres", dsn=f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/x"
    )
    assert away.observed["connected"] is False
    assert "hunter2" not in str(away.error) + away.evidence


# -- Prometheus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """Debian's Prometheus scraping a local exporter every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: `make test` installs Debian's package")
    exporter = FastAPI()

    @exporter.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return 'bank_db_pool_usage{pool="core"} 0.97\nbank_db_pool_usage{pool="loan"} 0.4\n'

    with serve(exporter) as url, tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: bank\n    static_configs: [{{targets: ['{url[7:]}']}}]\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


async def test_prometheus_query_against_thresholds(env: ProbeEnv, prometheus: str) -> None:
    query = 'bank_db_pool_usage{pool="core"}'

    async def scraped() -> bool:
        seen = await probe(env, "prometheus", server=prometheus, query=query)
        return seen.observed.get("series") == 1

    await wait_until_async(scraped, within=60, what="Prometheus to scrape the exporter")
    seen = await probe(env, "prometheus", server=prometheus, query=query)
    assert seen.observed["value"] == pytest.approx(0.97)
    assert seen.observed["labels"]["pool"] == "core"
    both = await probe(env, "prometheus", server=prometheus, query="bank_db_pool_usage > 0.9")
    assert both.observed["series"] == 1 and both.observed["values"] == [pytest.approx(0.97)]
    broken = await probe(env, "prometheus", server=prometheus, query="sum(")
    assert broken.error is not None and "bad_data" in broken.error


# -- the platforms --------------------------------------------------------------------------


async def test_platform_checks_against_the_simulator_with_faults(
    env: ProbeEnv, simulator_url: str
) -> None:
    instances = await probe(env, "app_instances", app="loan-api")
    assert (instances.observed["not_running"], instances.observed["running"]) == (1, 3)
    assert instances.observed["instances"] == [{"name": "loan-api-4", "status": "Failed"}]

    await sim(simulator_url, "PUT", "/admin/faults/dap.instances", json={"status": 500, "count": 5})
    failing = await probe(env, "app_instances", app="loan-api")
    assert failing.error is not None and "injected fault" in failing.error
    await sim(simulator_url, "DELETE", "/admin/faults/dap.instances")

    headers = {"Idempotency-Key": "probe-test"}
    order = await sim(
        simulator_url,
        "POST",
        "/dap/v1/release-orders",
        json={"app": "core-banking-a", "kind": "SCALE_OUT", "pods": 1, "batch_size": 1},
        headers=headers,
    )
    fresh = await probe(env, "release_orders", stuck_minutes=30)
    assert fresh.observed["stuck"] == 0
    await sim(simulator_url, "PUT", "/admin/settings", json={"age_seconds": 3600})
    try:
        old = await probe(env, "release_orders", stuck_minutes=30)
        assert [o["id"] for o in old.observed["orders"]] == [order["id"]]
        assert old.observed["orders"][0]["minutes"] >= 59

        await sim(
            simulator_url,
            "PUT",
            "/iam/v1/mode",
            json={"mode": "READ_ONLY", "reason": "drill"},
        )
        iam = await probe(env, "iam_degraded", max_minutes=30)
        assert iam.observed["mode"] == "READ_ONLY" and iam.observed["over_limit"] is True
    finally:
        await sim(simulator_url, "PUT", "/admin/settings", json={"age_seconds": 0})
        await sim(simulator_url, "POST", "/admin/reset")
    calm = await probe(env, "iam_degraded", max_minutes=30)
    assert (calm.observed["mode"], calm.observed["over_limit"]) == ("NORMAL", False)


def test_every_check_kind_is_tested_here() -> None:
    text = Path(__file__).read_text()
    untested = [code for code in CHECKS_BY_CODE if f'probe(env, "{code}"' not in text]
    assert untested == ["rule_drift", "gateway_drift"], untested  # tests/inspection/test_drift.py
    assert SIMULATOR_TOKEN and socket  # the simulator's token authenticates these calls
