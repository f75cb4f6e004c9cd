"""The fleet client over TLS: a real agent serving https on 127.0.0.1, trusted only through --ca-cert."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from cardwatch.agent.app import create_app
from cardwatch.agent.security import tls_context
from cardwatch.client import Backoff, FleetClient
from cardwatch.collectors.sim import SimCollector
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine

from .conftest import T0


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 that is its own CA."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "agent.crt", tmp_path / "agent.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
async def https_agent(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A real agent (sim collector) serving https on loopback; yields its URL and its certificate."""
    cert, key = _self_signed(tmp_path)
    runner = web.AppRunner(
        create_app([SimCollector(node="tls-node", cards=2)], interval_s=0.1, node="tls-node")
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(cert, key)).start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", cert
    await runner.cleanup()


async def _run_until_settled(fleet: Fleet, url: str) -> None:
    client = FleetClient(fleet, interval_s=0.1, backoff=Backoff(first_s=0.05, max_s=0.2))
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(30):
            while fleet.agent(url).state.status is AgentStatus.CONNECTING or fleet.agent(url).seq == 0:
                await asyncio.sleep(0.02)
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)


async def test_agent_trusted_through_its_ca_cert_streams(https_agent: tuple[str, Path]) -> None:
    url, cert = https_agent
    fleet = Fleet([AgentSpec(url, ca_cert=cert)], engine=HealthEngine(), now=T0)
    await _run_until_settled(fleet, url)
    assert fleet.agent(url).state.status is AgentStatus.LIVE
    assert len(fleet.node_cards("tls-node")) == 2


async def test_untrusted_certificate_is_down_with_the_tls_error(https_agent: tuple[str, Path]) -> None:
    url, _ = https_agent
    fleet = Fleet([AgentSpec(url)], engine=HealthEngine(), now=T0)
    await _run_until_settled(fleet, url)
    state = fleet.agent(url).state
    assert state.status is AgentStatus.DOWN and "TLS failed" in (state.reason or "")
    assert "CERTIFICATE_VERIFY_FAILED" in (state.reason or "")
