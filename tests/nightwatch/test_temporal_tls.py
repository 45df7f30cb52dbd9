"""mTLS to Temporal: the client presents its certificate and checks the server's against
the bank's CA. The dev server has no TLS of its own (`temporal server start-dev` takes no
certificate), so a TLS terminator that demands a client certificate sits in front of it,
as the cluster's frontend (or its load balancer) does in production."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import trustme
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from nightwatch.config import load_settings
from nightwatch.temporal import TemporalUnavailable, connect
from tests.support import free_port

pytestmark = pytest.mark.devserver
SERVER_NAME = "temporal.ops.bank.test"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest_asyncio.fixture(loop_scope="session")
async def terminator(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[str, trustme.CA, Path, list[str]]]:
    """A TLS frontend for the dev server that requires a client certificate of the CA."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(SERVER_NAME).configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    context.set_alpn_protocols(["h2"])  # gRPC
    host, _, port = dev_env.client.service_client.config.target_host.rpartition(":")

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        subject = dict(item[0] for item in peer.get("subject", ()))
        accepted.append(str(subject.get("commonName") or peer.get("subjectAltName")))
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    accepted: list[str] = []
    listen = free_port()
    server = await asyncio.start_server(forward, "127.0.0.1", listen, ssl=context)
    try:
        yield f"127.0.0.1:{listen}", ca, tmp_path, accepted
    finally:
        server.close()


def _client_files(ca: trustme.CA, home: Path, name: str) -> tuple[Path, Path]:
    cert = ca.issue_cert(f"{name}.ops.bank.test")
    cert_path, key_path = home / f"{name}.pem", home / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


async def test_a_worker_connects_with_its_certificate_and_the_banks_ca(
    terminator: tuple[str, trustme.CA, Path, list[str]],
) -> None:
    address, ca, home, accepted = terminator
    cert, key = _client_files(ca, home, "worker")
    settings = load_settings(
        temporal_address=address,
        temporal_tls_cert=cert,
        temporal_tls_key=key,
        temporal_tls_ca=home / "ca.pem",
        temporal_tls_server_name=SERVER_NAME,
        payload_encryption="off",
    )
    client = await connect(settings, identity="tls-test")
    answer = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert answer.server_version  # a real answer, through mutual TLS
    assert accepted and "worker.ops.bank.test" in accepted[0], accepted  # its certificate


async def test_no_client_certificate_or_a_foreign_ca_is_refused(
    terminator: tuple[str, trustme.CA, Path, list[str]],
) -> None:
    address, _, home, accepted = terminator
    without = load_settings(
        temporal_address=address,
        temporal_tls_ca=home / "ca.pem",
        temporal_tls_server_name=SERVER_NAME,
        payload_encryption="off",
    )
    with pytest.raises(TemporalUnavailable) as refused:
        await asyncio.wait_for(connect(without), 60)
    assert refused.value.path == "temporal" and address in refused.value.reason
    other = trustme.CA()  # a certificate the bank's CA never signed
    cert, key = _client_files(other, home, "intruder")
    (home / "other-ca.pem").write_bytes(other.cert_pem.bytes())
    foreign = load_settings(
        temporal_address=address,
        temporal_tls_cert=cert,
        temporal_tls_key=key,
        temporal_tls_ca=home / "other-ca.pem",  # and it does not trust the server either
        temporal_tls_server_name=SERVER_NAME,
        payload_encryption="off",
    )
    with pytest.raises(TemporalUnavailable):
        await asyncio.wait_for(connect(foreign), 60)
    assert accepted == []  # neither got past the handshake
