"""Bearer tokens, token-file permissions, exposure rules and TLS, against real 127.0.0.1 servers."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from agent_helpers import CounterCollector
from aiohttp import web

from cardwatch.agent.app import create_app
from cardwatch.agent.security import SecurityError, check_exposure, read_token_file, tls_context

TOKEN = "s3cret-token-value"
ENDPOINTS = ("/v1/info", "/v1/snapshot", "/v1/history", "/metrics", "/healthz", "/v1/nothing")


def counter_app() -> web.Application:
    return create_app([CounterCollector(cards=2)], interval_s=0.05, token=TOKEN, node="n1")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"])
async def test_missing_or_wrong_token_gets_401_and_no_data(
    aiohttp_client, path: str, header: str | None
) -> None:
    client = await aiohttp_client(counter_app())
    headers = {"Authorization": header} if header else {}
    resp = await client.get(path, headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"error": "missing or wrong bearer token"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_right_token_gets_data(aiohttp_client) -> None:
    client = await aiohttp_client(counter_app())
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/v1/snapshot", headers=headers)).status == 200
    assert (await client.get("/metrics", headers=headers)).status == 200
    assert (await client.get("/v1/nothing", headers=headers)).status == 404


async def test_websocket_upgrade_needs_the_token(aiohttp_client) -> None:
    client = await aiohttp_client(counter_app())
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/v1/stream", headers={"Authorization": "Bearer nope"})
    assert refused.value.status == 401
    async with client.ws_connect("/v1/stream", headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        message = await ws.receive(timeout=30)
        assert '"kind":"snapshot"' in message.data


def test_token_file_must_be_private(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    token_file.chmod(0o600)
    assert read_token_file(token_file) == TOKEN
    token_file.chmod(0o640)
    with pytest.raises(SecurityError, match="chmod 600"):
        read_token_file(token_file)
    token_file.chmod(0o604)
    with pytest.raises(SecurityError, match="readable by group or others"):
        read_token_file(token_file)
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(SecurityError, match="empty"):
        read_token_file(tmp_path / "empty")
    with pytest.raises(SecurityError, match="cannot read"):
        read_token_file(tmp_path / "missing")


@pytest.mark.parametrize(
    ("host", "token", "insecure", "allowed"),
    [
        ("127.0.0.1", None, False, True),
        ("::1", None, False, True),
        ("localhost", None, False, True),
        ("0.0.0.0", None, False, False),
        ("10.1.2.3", None, False, False),
        ("gpu-node-01", None, False, False),
        ("0.0.0.0", TOKEN, False, True),
        ("0.0.0.0", None, True, True),
    ],
)
def test_non_loopback_needs_token_or_insecure(
    host: str, token: str | None, insecure: bool, allowed: bool
) -> None:
    if allowed:
        check_exposure(host, token, insecure)
    else:
        with pytest.raises(SecurityError, match="--token-file"):
            check_exposure(host, token, insecure)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1."""
    from cryptography import x509
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
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    runner = web.AppRunner(create_app([CounterCollector(cards=1)], interval_s=0.05, token=TOKEN))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(cert, key))
    await site.start()
    port = runner.addresses[0][1]
    trusted = ssl.create_default_context(cafile=str(cert))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.get(
                f"https://127.0.0.1:{port}/v1/snapshot", ssl=trusted, headers=headers
            ) as resp:
                assert resp.status == 200 and (await resp.json())["cards"]
            async with session.ws_connect(
                f"wss://127.0.0.1:{port}/v1/stream", ssl=trusted, headers=headers
            ) as ws:
                assert '"kind":"snapshot"' in (await ws.receive(timeout=30)).data
            with pytest.raises(aiohttp.ClientError):
                await session.get(f"https://127.0.0.1:{port}/v1/snapshot", headers=headers)  # untrusted cert
            with pytest.raises(aiohttp.ClientError):
                await session.get(f"http://127.0.0.1:{port}/v1/snapshot", headers=headers)
    finally:
        await runner.cleanup()


def test_tls_with_a_bad_key_is_a_clear_error(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    (tmp_path / "bad.key").write_text("not a key")
    with pytest.raises(SecurityError, match="cannot load TLS"):
        tls_context(cert, tmp_path / "bad.key")
