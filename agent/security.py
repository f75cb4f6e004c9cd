"""Who may read the agent: bearer tokens from a private file, constant-time checks, size limits."""

from __future__ import annotations

import hmac
import ipaddress
import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web

MAX_URL_BYTES: Final = 2048
MAX_HEADER_BYTES: Final = 8190
MAX_BODY_BYTES: Final = 1024
MAX_WS_MESSAGE_BYTES: Final = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SecurityError(ValueError):
    """A token file or listen setting that would expose the node; the message says how to fix it."""


def read_token_file(path: Path) -> str:
    """The token in `path`, refused if the file is readable by group or others, or empty."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecurityError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SecurityError(f"token file {path} is not UTF-8 text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecurityError(f"token file {path} is readable by group or others (run: chmod 600 {path})")
    if not text:
        raise SecurityError(f"token file {path} is empty")
    return text


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the agent only to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve a non-loopback address without a token unless the operator said --insecure."""
    if token is None and not insecure and not is_loopback(host):
        raise SecurityError(
            f"listening on {host} needs a bearer token (--token-file) or an explicit --insecure"
        )


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SecurityError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    return context


def auth_middleware(token: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Answer 401 with no data unless the request carries ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="cardwatch"'},
            )
        return await handler(request)

    return check_token


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse oversized URLs and any request body (no endpoint takes one) before routing."""
    if len(request.raw_path) > MAX_URL_BYTES:
        return web.json_response({"error": f"URL longer than {MAX_URL_BYTES} bytes"}, status=414)
    if request.content_length or request.body_exists:
        return web.json_response({"error": "request bodies are not accepted"}, status=413)
    return await handler(request)
